import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { TaskOptions } from '../core/task-registry.js';
import { TASK_METADATA } from './tokens.js';

/** Reads what `@Task()` recorded on a method. */
@Injectable()
export class TaskMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getTaskOptions(method: Function): TaskOptions | undefined {
    return this.reflector.get<TaskOptions | undefined>(TASK_METADATA, method);
  }
}
