import type { PluginComponent, TriggerAnswer, TriggerEvent, TriggerName } from './triggers.js';

export type TriggerHandler<T extends TriggerName> = (
  event: TriggerEvent<T>,
) => TriggerAnswer<T> | void | Promise<TriggerAnswer<T> | void>;

export type TriggerHandlers = { [T in TriggerName]?: TriggerHandler<T> };

/** A plugin: handlers by trigger name (the original's `BasePlugin.handlers`). */
export interface TaskPlugin {
  /** Shown in errors; defaults to the class name. */
  readonly name?: string;
  readonly handlers: TriggerHandlers;
}

export interface AddPluginOptions {
  /**
   * The triggers this plugin is registered for: its handlers run before global ones. Without
   * it the plugin is global: each of its handlers runs after the trigger-specific ones.
   */
  triggers?: TriggerName[];
  /** Limits the plugin to the triggers of one component. */
  component?: PluginComponent;
}
