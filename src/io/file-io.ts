/**
 * Typed access to the native byte-range I/O (native/src/io/file_io.cc, int_convert.cc): file bytes move straight
 * between a file descriptor and a tensor's native storage, never through a JavaScript buffer.
 */
import { type NativeStorage, native } from '../engine/native.js';

export function preadStorage(fd: number, fileOffset: number, dst: NativeStorage, dstOffset: number, bytes: number) {
  if (bytes > 0) native.preadStorage(fd, fileOffset, dst, dstOffset, bytes);
}

export function pwriteStorage(fd: number, fileOffset: number, src: NativeStorage, srcOffset: number, bytes: number) {
  if (bytes > 0) native.pwriteStorage(fd, fileOffset, src, srcOffset, bytes);
}

/** Narrows n int64 values to int32; returns the index of the first value outside the int32 range, or -1. */
export function narrowI64ToI32(src: NativeStorage, dst: NativeStorage, n: number): number {
  return native.narrowI64ToI32(src, dst, n) as number;
}

export function widenI32ToI64(src: NativeStorage, dst: NativeStorage, n: number): void {
  native.widenI32ToI64(src, dst, n);
}

export function widenU8ToI32(src: NativeStorage, dst: NativeStorage, n: number): void {
  native.widenU8ToI32(src, dst, n);
}
