import { Injectable, Logger } from '@nestjs/common';
import { Task, TaskCtx, type TaskContext } from '../../lib/index.js';
import { InviteDto } from './invite.dto.js';
import { hashPassword } from './password-hash.js';
import { UsersRepository } from './users.repository.js';

/** The sample's tasks: plain service methods tagged with @Task(). */
@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(private readonly users: UsersRepository) {}

  @Task({ name: 'test', description: 'records a user', tags: ['users'] })
  async record(id: number): Promise<string> {
    this.users.save(id);
    this.logger.log(`recorded user ${id}`);
    return `User ${id} recorded`;
  }

  /** On a schedule too: the timer enqueues it once a minute, once across all instances. */
  @Task({ name: 'report', priority: -1, description: 'counts recorded users', cron: '0 * * * * *' })
  async report(): Promise<{ users: number }> {
    return { users: this.users.count() };
  }

  /**
   * Uses its context (uuid, attempt, progress, logger, abort signal): fails on its first attempt,
   * so the retry plugin runs it again under the same uuid; `maxTime` bounds each attempt. One
   * import at a time across all workers (`maxRunning`): the directory takes one writer.
   */
  @Task({ name: 'import', retry: 2, backoff: { type: 'fixed', delay: 200 }, maxTime: 5000, maxRunning: 1 })
  async importUsers(ids: number[], @TaskCtx() ctx: TaskContext): Promise<number> {
    if (ctx.attempt === 1) throw new Error('the directory was busy, try again');
    for (const [index, id] of ids.entries()) {
      if (ctx.signal.aborted) break;
      this.users.save(id);
      await ctx.progress(Math.round(((index + 1) / ids.length) * 100));
    }
    ctx.logger.log(`imported ${ids.length} users on attempt ${ctx.attempt}`);
    return ids.length;
  }

  /**
   * A DTO parameter: the validation plugin checks it at enqueue and hands the task an InviteDto.
   * Rate-limited as an email provider would require: at most 5 invites a second, across workers.
   */
  @Task({ name: 'invite', description: 'invites a user by email', tags: ['users'], rateLimit: { max: 5, windowMs: 1_000 } })
  async invite(invite: InviteDto): Promise<string> {
    return `invited ${invite.email} for user ${invite.userId} (${invite instanceof InviteDto ? 'validated' : 'raw'})`;
  }

  /**
   * CPU-bound: the worker (a ThreadWorker, see app.module.ts) runs the module's export on a thread.
   * The body is what a direct call in this process runs; the queue never calls it.
   */
  @Task({
    name: 'hashPassword',
    description: 'hashes a password on a worker thread',
    thread: { module: new URL('./password-hash.js', import.meta.url), export: 'hashPassword' },
  })
  hashPassword(password: string, salt: string): string {
    return hashPassword(password, salt);
  }

  @Task({ name: 'fail', description: 'always fails, to show an error record' })
  async fail(reason: string): Promise<never> {
    throw new Error(reason);
  }
}
