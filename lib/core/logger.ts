/** The little logging the engine does; the Nest layer passes a Nest Logger, which fits. */
export interface QTasksLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
}

function taggedConsole(tag: string): QTasksLogger {
  return {
    log: (message) => console.log(`${tag} ${message}`),
    warn: (message) => console.warn(`${tag} ${message}`),
    error: (message, stack) => console.error(`${tag} ${message}${stack ? `\n${stack}` : ''}`),
  };
}

export const consoleLogger: QTasksLogger = taggedConsole('[qtasks]');

/** The default logger of a running task's context: the console, tagged with task name and uuid. */
export function taggedConsoleLogger(uuid: string, taskName: string): QTasksLogger {
  return taggedConsole(`[qtasks ${taskName} ${uuid}]`);
}
