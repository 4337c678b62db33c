// Errors: every error this package throws is a ZnnError with a stable `code`.

/** Base class of every error this package throws; `code` is stable (`ZNN_*`). */
export class ZnnError extends Error {
  constructor(message, code = 'ZNN_ERROR', options) {
    super(message, options);
    this.code = code;
  }
}
Object.defineProperty(ZnnError.prototype, 'name', { value: 'ZnnError', writable: true, configurable: true });

function errorClass(name, code) {
  const C = class extends ZnnError {
    constructor(message, options) {
      super(message, code, options);
    }
  };
  Object.defineProperty(C, 'name', { value: name });
  Object.defineProperty(C.prototype, 'name', { value: name, writable: true, configurable: true });
  return C;
}

export const NotCompressedError = errorClass('NotCompressedError', 'ZNN_NOT_COMPRESSED');
export const TruncatedError = errorClass('TruncatedError', 'ZNN_TRUNCATED');
export const CorruptError = errorClass('CorruptError', 'ZNN_CORRUPT');
export const UnsupportedError = errorClass('UnsupportedError', 'ZNN_UNSUPPORTED');
export const TooLargeError = errorClass('TooLargeError', 'ZNN_TOO_LARGE');
export const InvalidInputError = errorClass('InvalidInputError', 'ZNN_INVALID_INPUT');
/** A bug inside the wasm module (a trap); the instance has been replaced by a fresh one. */
export const InternalError = errorClass('InternalError', 'ZNN_INTERNAL');

/** `fetchModel` got a response whose status is not 2xx. */
export class HttpError extends ZnnError {
  constructor(response) {
    super(`HTTP ${response.status} ${response.statusText || ''} for ${response.url || 'the request'}`.replace('  ', ' '), 'ZNN_HTTP');
    this.status = response.status;
    this.url = response.url;
  }
}
Object.defineProperty(HttpError.prototype, 'name', { value: 'HttpError', writable: true, configurable: true });
/** `fetchModel`'s request or body failed below HTTP (refused, reset, DNS); `cause` has why. */
export const NetworkError = errorClass('NetworkError', 'ZNN_NETWORK');
/** The wasm module could not be fetched, compiled or instantiated. */
export const initError = (e) =>
  e instanceof ZnnError ? e : new ZnnError(`zipnn-wasm: cannot load the wasm module: ${e?.message ?? e}`, 'ZNN_INIT', { cause: e });

export const BY_CODE = {
  ZNN_NOT_COMPRESSED: NotCompressedError,
  ZNN_TRUNCATED: TruncatedError,
  ZNN_CORRUPT: CorruptError,
  ZNN_UNSUPPORTED: UnsupportedError,
  ZNN_TOO_LARGE: TooLargeError,
  ZNN_INVALID_INPUT: InvalidInputError,
};

/** Exceptions thrown by the caller's callbacks (onProgress, onTensor): rethrown as they are. */
export const userErrors = new WeakSet();

/** `f` with what it throws marked as the caller's own (so `fromWasm` leaves it alone). */
export function userCallback(f) {
  return (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) userErrors.add(e);
      throw e;
    }
  };
}

export const ERROR_BY_CODE = { ...BY_CODE, ZNN_INTERNAL: InternalError };
