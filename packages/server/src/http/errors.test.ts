import { describe, expect, test } from 'vitest';
import { toAppError } from './errors.js';
import { DeliveryError } from '../notify/senders.js';
import { ConflictError, NotFoundError } from '../storage/errors.js';

describe('toAppError', () => {
  test('maps domain errors to stable codes', () => {
    expect(toAppError(new DeliveryError('email', new Error('ECONNREFUSED')))).toMatchObject({ code: 'delivery_failed', status: 503 });
    expect(toAppError(new NotFoundError('user', 'x'))).toMatchObject({ code: 'not_found', status: 404 });
    expect(toAppError(new ConflictError('user', 'taken'))).toMatchObject({ code: 'conflict', status: 409 });
    expect(toAppError(new Error('boom'))).toBeUndefined();
  });
});
