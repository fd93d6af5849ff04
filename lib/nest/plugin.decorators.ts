import { Injectable, type ScopeOptions } from '@nestjs/common';
import { SCOPE_OPTIONS_METADATA } from '@nestjs/common/constants.js';
import { InvalidOptionError } from '../core/errors.js';
import type { PluginComponent, TriggerName } from '../plugins/triggers.js';
import { decoratedMethod } from './decorated-method.js';
import { defineMethodMetadata } from './method-metadata.js';
import { PLUGIN_METADATA, TRIGGER_METADATA } from './tokens.js';

export interface QTasksPluginOptions {
  /** Limits the plugin to the triggers of one component. */
  component?: PluginComponent;
  /** Registers it as a global plugin: its handlers run after the trigger-specific ones. */
  global?: boolean;
}

/**
 * Marks an injectable class as a plugin: its `@OnTrigger()` methods are registered at bootstrap,
 * on the instance Nest built (so injected dependencies work).
 */
export function QTasksPlugin(options: QTasksPluginOptions = {}): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(PLUGIN_METADATA, options, target);
    // Under an @Injectable({ scope }) (applied first), a bare Injectable() would erase that scope.
    Injectable(Reflect.getMetadata(SCOPE_OPTIONS_METADATA, target) as ScopeOptions | undefined)(target);
  };
}

/**
 * Binds a plugin method to triggers. It gets the trigger's event and returns nothing (no change)
 * or an object with the fields to replace.
 */
export function OnTrigger(...triggers: TriggerName[]): MethodDecorator {
  return (target, key, descriptor) => {
    const method = decoratedMethod('@OnTrigger()', target, key, descriptor);
    // Bound to no trigger, the method would be registered for none and never run, without a word.
    if (triggers.length === 0) {
      throw new InvalidOptionError(
        `@OnTrigger() on ${target.constructor.name}.${String(key)} names no trigger: give the ones it handles (@OnTrigger('worker_execute_after')).`,
      );
    }
    const existing = (Reflect.getMetadata(TRIGGER_METADATA, method) as TriggerName[] | undefined) ?? [];
    defineMethodMetadata(TRIGGER_METADATA, [...existing, ...triggers], target, key, method);
    return descriptor;
  };
}
