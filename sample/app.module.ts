import { Module, type DynamicModule } from '@nestjs/common';
import { QTasksModule, QTasksRootHooks, ThreadWorker, type QTasksModuleOptions } from '../lib/index.js';
import { AuditPlugin, OutcomeCounter } from './plugins/audit.plugin.js';
import { TimingInterceptor } from './plugins/timing.interceptor.js';
import { UsersController } from './users/users.controller.js';
import { UsersRepository } from './users/users.repository.js';
import { UsersService } from './users/users.service.js';

/**
 * The whole sample app; `qtasks` holds the connection and settings (see main.ts and worker.ts).
 * It shows tasks (UsersService), the client (UsersController), a plugin and an interceptor
 * (plugins/), the timer (the `report` schedule), GlobalConfig and the components injected under
 * their abstract classes (GET /status) and a ThreadWorker (the `hashPassword` task runs on its
 * thread); main.ts adds the dashboard (the `webview` option) and logs the CLI command.
 * QTasksRootHooks, in this root module, starts the work after the other modules' bootstrap hooks
 * and ends it before their destroy hooks.
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
          worker: new ThreadWorker({ threads: 1 }),
          ...qtasks,
        }),
      ],
      controllers: withHttp ? [UsersController] : [],
      providers: [UsersRepository, UsersService, OutcomeCounter, AuditPlugin, TimingInterceptor, QTasksRootHooks],
    };
  }
}
