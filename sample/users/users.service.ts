import { Injectable, Logger } from '@nestjs/common';
import { Task } from '../../lib/index.js';
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

  @Task({ name: 'report', priority: -1, description: 'counts recorded users' })
  async report(): Promise<{ users: number }> {
    return { users: this.users.count() };
  }

  @Task({ name: 'fail', description: 'always fails, to show an error record' })
  async fail(reason: string): Promise<never> {
    throw new Error(reason);
  }
}
