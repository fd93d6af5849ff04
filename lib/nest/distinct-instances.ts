import type { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';

/**
 * The app's providers and controllers (a controller is a singleton as a provider is, and
 * @nestjs/schedule's @Cron works on both), each instance once: an alias (`useExisting`) is a
 * second wrapper around the same one.
 */
export function distinctInstances(discovery: DiscoveryService): InstanceWrapper[] {
  const seen = new Set<unknown>();
  return [...discovery.getProviders(), ...discovery.getControllers()].filter(({ instance }) => !seen.has(instance) && Boolean(seen.add(instance)));
}
