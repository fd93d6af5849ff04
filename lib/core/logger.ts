/** The little logging the engine does; the Nest layer passes a Nest Logger, which fits. */
export interface QTasksLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
}

export const consoleLogger: QTasksLogger = {
  log: (message) => console.log(`[qtasks] ${message}`),
  warn: (message) => console.warn(`[qtasks] ${message}`),
  error: (message, stack) => console.error(`[qtasks] ${message}${stack ? `\n${stack}` : ''}`),
};
