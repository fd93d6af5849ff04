import type { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';

/** The app's providers, each instance once: an alias (`useExisting`) is a second wrapper around the same one. */
export function distinctProviders(discovery: DiscoveryService): InstanceWrapper[] {
  const seen = new Set<unknown>();
  return discovery.getProviders().filter(({ instance }) => !seen.has(instance) && Boolean(seen.add(instance)));
}
