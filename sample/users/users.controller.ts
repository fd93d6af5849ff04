import { Body, Controller, Get, NotFoundException, Param, ParseIntPipe, Post } from '@nestjs/common';
import { QTasksClient, type TaskRecord } from '../../lib/index.js';
import { UsersService } from './users.service.js';

@Controller()
export class UsersController {
  constructor(private readonly qtasks: QTasksClient) {}

  /** Enqueues the `test` task through a typed handle; answers at once with the task's uuid. */
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

  /** Enqueues and waits for the result (pushed by Redis, no polling). */
  @Post('report')
  async report(): Promise<{ users: number }> {
    return this.qtasks.task(UsersService, 'report').with({ timeout: 5000 }).run();
  }
}
