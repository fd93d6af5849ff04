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

  async set(key: string, value: unknown): Promise<void> {
    this.settings.set(key, JSON.stringify(value));
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const raw = this.settings.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  async getAll(): Promise<Record<string, unknown>> {
    return Object.fromEntries([...this.settings].map(([key, raw]) => [key, JSON.parse(raw)]));
  }

  async setStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
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
