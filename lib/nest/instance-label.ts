import type { InjectionToken } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import type { Module } from '@nestjs/core/injector/module.js';
import { shownValue } from '../core/errors.js';

/**
 * What tells a provider's instance from another of its class in a module of the same name, for a
 * DuplicateTaskError that would otherwise name one method and one module twice: its token when
 * the module lists the class under several (each token builds an instance), and which import it
 * is when a dynamic module is imported several times (each import builds its own providers).
 * Undefined when neither applies: the method and module then tell the registrations apart.
 */
export function instanceLabel(wrapper: InstanceWrapper, modules: ModulesContainer): string | undefined {
  if (!wrapper.host) return undefined;
  const parts = [tokenPart(wrapper, wrapper.host), importPart(wrapper.host, modules)].filter((part) => part !== undefined);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function tokenPart({ instance, token }: InstanceWrapper, host: Module): string | undefined {
  const type = (instance as object).constructor;
  const listed = [...host.providers.values(), ...host.controllers.values()];
  const listedAgain = listed.some((other) => other.instance !== instance && (other.instance as { constructor?: unknown } | null)?.constructor === type);
  return listedAgain ? `provider ${tokenName(token)}` : undefined;
}

function importPart(host: Module, modules: ModulesContainer): string | undefined {
  const imports = [...modules.values()].filter((module) => module.metatype === host.metatype);
  return imports.length > 1 ? `import ${imports.indexOf(host) + 1} of ${imports.length}` : undefined;
}

/** A class token by its name (shownValue would print its source), a string quoted, a symbol as Symbol(...). */
function tokenName(token: InjectionToken): string {
  return typeof token === 'function' ? token.name : shownValue(token);
}
