import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { QTasksError, type QTasksErrorCode } from '../lib/index.js';

const STATUS_BY_CODE: Partial<Record<QTasksErrorCode, HttpStatus>> = {
  TASK_NOT_FOUND: HttpStatus.NOT_FOUND,
  REDIS_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  WAIT_TIMEOUT: HttpStatus.GATEWAY_TIMEOUT,
  INVALID_TASK_STATE: HttpStatus.CONFLICT,
};

/** Turns the library's typed errors into HTTP answers: bad input is the caller's 400, not a 500. */
@Catch(QTasksError)
export class QTasksErrorFilter implements ExceptionFilter {
  catch(error: QTasksError, host: ArgumentsHost): void {
    const status = STATUS_BY_CODE[error.code] ?? HttpStatus.BAD_REQUEST;
    host.switchToHttp().getResponse().status(status).json({ statusCode: status, code: error.code, message: error.message });
  }
}
