import { Module, type DynamicModule } from '@nestjs/common';
import { QTasksModule, type QTasksModuleOptions } from '../nest/qtasks.module.js';
import { QTasksTesting } from './qtasks-testing.js';

/** Options of the testing module: those of QTasksModule, less everything that picks or reads a Redis. */
export type QTasksTestingModuleOptions = Omit<QTasksModuleOptions, 'backend' | 'url' | 'redis' | 'client' | 'cluster' | 'webview'>;

/**
 * QTasksModule on the memory backend, plus QTasksTesting. Import it in place of QTasksModule in a
 * test module: no Redis is needed and closing the app leaves no open handle.
 */
@Module({})
export class QTasksTestingModule {
  static forRoot(options: QTasksTestingModuleOptions = {}): DynamicModule {
    return {
      module: QTasksTestingModule,
      global: true,
      imports: [QTasksModule.forRoot({ ...options, backend: 'memory' })],
      providers: [QTasksTesting],
      exports: [QTasksTesting],
    };
  }
}
