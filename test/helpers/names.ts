import { randomUUID } from 'node:crypto';

/** A fresh app name per test, so tests sharing one Redis never see each other's keys. */
export function uniqueAppName(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}
