import { Body, Controller, Get, Inject, NotFoundException, Param, ParseIntPipe, Post } from '@nestjs/common';
import {
  Broker,
  GlobalConfig,
  QTasksClient,
  Storage,
  Worker,
  type ScheduleState,
  type TaskCatalogEntry,
  type TaskRecord,
  type WorkerStatus,
} from '../../lib/index.js';
import { OutcomeCounter } from '../plugins/audit.plugin.js';
import type { InviteDto } from './invite.dto.js';
import { UsersService } from './users.service.js';

@Controller()
export class UsersController {
  constructor(
    private readonly qtasks: QTasksClient,
    private readonly globalConfig: GlobalConfig,
    private readonly outcomes: OutcomeCounter,
    // Every component is a provider under its abstract class (GET /status names them).
    private readonly broker: Broker,
    private readonly storage: Storage,
    @Inject(Worker) private readonly worker: Worker | null,
  ) {}

  /** Enqueues the `test` task through a typed handle; answers at once with the new task's record. */
  @Post('users/:id/record')
  async record(@Param('id', ParseIntPipe) id: number): Promise<TaskRecord> {
    return this.qtasks.task(UsersService, 'record').add(id);
  }

  /** Enqueues any task by name: `{ "name": "fail", "args": ["why"], "priority": 1 }`. */
  @Post('tasks')
  async add(@Body() body: { name: string; args?: unknown[]; priority?: number; delay?: number }): Promise<TaskRecord> {
    return this.qtasks.add(body.name, body.args ?? [], { priority: body.priority, delay: body.delay });
  }

  /** Shows a task's record: status, result or traceback, timings. */
  @Get('tasks/:uuid')
  async show(@Param('uuid') uuid: string): Promise<TaskRecord> {
    const record = await this.qtasks.get(uuid);
    if (!record) throw new NotFoundException(`no task ${uuid}`);
    return record;
  }

  /** Runs a task that ended `error` or `cancel` again, under its uuid (409 for a task in another status). */
  @Post('tasks/:uuid/requeue')
  async requeue(@Param('uuid') uuid: string): Promise<TaskRecord> {
    return this.qtasks.requeue(uuid);
  }

  /**
   * Pauses starting tasks, for every worker: all of them, or with `{ "task": "invite" }` those of one
   * task (say, while the mail provider is down). Running tasks go on; held ones start once resumed.
   */
  @Post('queue/pause')
  async pause(@Body() body: { task?: string } = {}): Promise<{ paused: boolean; task: string | null }> {
    await this.qtasks.pause(body.task);
    return { paused: true, task: body.task ?? null };
  }

  /** Ends a pause: `{ "task": "invite" }` for one task's, nothing for the queue's. */
  @Post('queue/resume')
  async resume(@Body() body: { task?: string } = {}): Promise<{ paused: boolean; task: string | null }> {
    await this.qtasks.resume(body.task);
    return { paused: false, task: body.task ?? null };
  }

  /** Enqueues and waits for the result (pushed by Redis). */
  @Post('report')
  async report(): Promise<{ users: number }> {
    return this.qtasks.task(UsersService, 'report').with({ timeout: 5000 }).run();
  }

  /** Enqueues the `import` task: it fails once, is retried, and reports progress. */
  @Post('users/import')
  async importUsers(@Body() body: { ids: number[] }): Promise<TaskRecord> {
    return this.qtasks.add('import', [body.ids]);
  }

  /** Enqueues the `invite` task; a body that fails InviteDto's rules is a 400 naming each rule, and nothing is enqueued. */
  @Post('users/invite')
  async invite(@Body() body: InviteDto): Promise<TaskRecord> {
    return this.qtasks.task(UsersService, 'invite').add(body);
  }

  /** Runs the CPU-bound `hashPassword` task on a worker thread and answers with the hash. */
  @Post('users/:id/password')
  async password(@Param('id', ParseIntPipe) id: number, @Body('password') password: string): Promise<{ hash: string }> {
    // Without a password the arguments hold `undefined`, which the add refuses (NOT_SERIALIZABLE: a 400).
    const hash = await this.qtasks.task(UsersService, 'hashPassword').with({ timeout: 10_000 }).run(password, `user-${id}`);
    return { hash };
  }

  /**
   * What GlobalConfig holds (readable with no app running), what the audit plugin counted, and
   * which component classes this app runs (the backend's, and the ThreadWorker).
   */
  @Get('status')
  async status(): Promise<{
    workers: WorkerStatus[];
    tasks: TaskCatalogEntry[];
    schedules: ScheduleState[];
    outcomes: Record<string, number>;
    components: Record<'broker' | 'storage' | 'globalConfig' | 'worker', string | null>;
  }> {
    const [workers, tasks, schedules] = await Promise.all([
      this.globalConfig.workers(),
      this.globalConfig.catalog(),
      this.globalConfig.schedules(),
    ]);
    const components = {
      broker: this.broker.constructor.name,
      storage: this.storage.constructor.name,
      globalConfig: this.globalConfig.constructor.name,
      worker: this.worker?.constructor.name ?? null,
    };
    return { workers, tasks, schedules, outcomes: this.outcomes.snapshot(), components };
  }
}
