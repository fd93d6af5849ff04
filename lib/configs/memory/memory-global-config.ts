import type { TaskCatalogEntry } from '../../core/task-registry.js';
import { GlobalConfig, type WorkerStatus } from '../global-config.js';

/**
 * GlobalConfig in process memory. Values are kept as JSON text, as in Redis, so what a caller
 * reads back is a copy; heartbeats expire when read after their time to live.
 */
export class MemoryGlobalConfig extends GlobalConfig {
  private readonly settings = new Map<string, string>();
  private readonly catalogEntries = new Map<string, string>();
  private readonly statuses = new Map<string, { raw: string; expiresAt: number }>();

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  // The same plugin triggers as the Redis GlobalConfig, at the same points.
  async set(key: string, value: unknown): Promise<void> {
    ({ value } = await this.plugins.trigger('global_config_set', { key, value }));
    this.settings.set(key, JSON.stringify(value));
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const raw = this.settings.get(key);
    const { value } = await this.plugins.trigger('global_config_get', { key, value: raw === undefined ? undefined : JSON.parse(raw) });
    return value as T | undefined;
  }

  async getAll(): Promise<Record<string, unknown>> {
    const values = Object.fromEntries([...this.settings].map(([key, raw]) => [key, JSON.parse(raw)]));
    return (await this.plugins.trigger('global_config_get_all', { values })).values;
  }

  async setStatus(given: WorkerStatus, ttlMs: number): Promise<void> {
    const { status } = await this.plugins.trigger('global_config_set_status', { status: given, ttlMs });
    this.statuses.set(status.id, { raw: JSON.stringify(status), expiresAt: Date.now() + ttlMs });
  }

  async removeStatus(workerId: string): Promise<void> {
    this.statuses.delete(workerId);
  }

  async workers(): Promise<WorkerStatus[]> {
    const now = Date.now();
    const live: WorkerStatus[] = [];
    for (const [id, { raw, expiresAt }] of this.statuses) {
      if (expiresAt <= now) this.statuses.delete(id);
      else live.push(JSON.parse(raw) as WorkerStatus);
    }
    return live;
  }

  async publishCatalog(entries: TaskCatalogEntry[]): Promise<void> {
    for (const entry of entries) this.catalogEntries.set(entry.name, JSON.stringify(entry));
  }

  async catalog(): Promise<TaskCatalogEntry[]> {
    return [...this.catalogEntries.values()].map((raw) => JSON.parse(raw) as TaskCatalogEntry);
  }
}
