import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';

/**
 * Why Nest builds the provider per request or per injection, when it does: its discovered
 * instance is then a bare prototype whose constructor never ran, no instance to run tasks or
 * plugin handlers on.
 */
export function nonSingletonScope(wrapper: InstanceWrapper): string | undefined {
  if (wrapper.isTransient) return 'transient';
  if (!wrapper.isDependencyTreeStatic()) return 'request-scoped';
  return undefined;
}

/** What the app lists the class as, for messages: a controller or a provider. */
export function providerKind(wrapper: InstanceWrapper): 'controller' | 'provider' {
  return wrapper.host?.controllers.get(wrapper.token) === wrapper ? 'controller' : 'provider';
}
