import { Module, type DynamicModule } from '@nestjs/common';
import { QTasksModule, type QTasksModuleOptions } from '../lib/index.js';
import { AuditPlugin, OutcomeCounter } from './plugins/audit.plugin.js';
import { TimingInterceptor } from './plugins/timing.interceptor.js';
import { UsersController } from './users/users.controller.js';
import { UsersRepository } from './users/users.repository.js';
import { UsersService } from './users/users.service.js';

/**
 * The whole sample app; `qtasks` holds the connection and settings (see main.ts and worker.ts).
 * It shows tasks (UsersService), the client (UsersController), a plugin and an interceptor
 * (plugins/), the timer (the `report` schedule) and GlobalConfig (GET /status); main.ts adds
 * the dashboard (the `webview` option).
 */
@Module({})
export class AppModule {
  static register(qtasks: QTasksModuleOptions, withHttp = true): DynamicModule {
    return {
      module: AppModule,
      imports: [
        QTasksModule.forRoot({
          name: 'QueueTasksSample',
          config: { maxTasksProcess: 10, runningOlderTasks: true, deleteFinishedTasks: false },
          interceptors: [TimingInterceptor],
          ...qtasks,
        }),
      ],
      controllers: withHttp ? [UsersController] : [],
      providers: [UsersRepository, UsersService, OutcomeCounter, AuditPlugin, TimingInterceptor],
    };
  }
}
