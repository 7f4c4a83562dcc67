import { describe, expect, it } from 'vitest';
import {
  getHeader,
  getHeaders,
  hasField,
  hasToken,
  headerList,
  repeatedSingleton,
  withField,
  withoutField,
} from '../../core/headers.js';

describe('header lists', () => {
  it('finds a field whatever the case of its name, and only that field', () => {
    const headers = ['Content-Length', '5', 'x-content-length', '6', 'etag', '"a"'];
    expect(hasField(headers, 'content-length')).toBe(true);
    expect(hasField(headers, 'etag')).toBe(true);
    expect(hasField(['ETAG', '"a"'], 'etag')).toBe(true);
    // Same length, other letters: not the field.
    expect(hasField(['content-lengtH', '1'], 'content-length')).toBe(true);
    expect(hasField(['content-lenght', '1'], 'content-length')).toBe(false);
    expect(hasField(['x-content-length', '6'], 'content-length')).toBe(false);
    expect(hasField([], 'content-length')).toBe(false);
  });

  it('drops every field of a name, in any case, and keeps the rest in order', () => {
    const headers = [
      'Content-Length',
      '5',
      'a',
      '1',
      'content-length',
      '6',
      'CONTENT-LENGTHS',
      '7',
    ];
    expect(withoutField(headers, 'content-length')).toEqual(['a', '1', 'CONTENT-LENGTHS', '7']);
  });

  it('adds a field to a copy and leaves the list it copied alone', () => {
    const headers = ['content-type', 'text/plain'];
    const added = withField(headers, 'content-length', '14');
    expect(added).toEqual(['content-type', 'text/plain', 'content-length', '14']);
    expect(headers).toEqual(['content-type', 'text/plain']);
    expect(withField([], 'content-length', '0')).toEqual(['content-length', '0']);
  });

  it('names the first single-value field that repeats, in any case', () => {
    expect(repeatedSingleton(['content-type', 'a', 'Content-Type', 'b'])).toBe('content-type');
    expect(repeatedSingleton(['ETag', '"a"', 'etag', '"b"'])).toBe('etag');
    // cache-control has the length of content-range but is a list: it may repeat.
    expect(repeatedSingleton(['cache-control', 'a', 'Cache-Control', 'b'])).toBeNull();
    expect(repeatedSingleton(['set-cookie', 'a=1', 'set-cookie', 'b=2'])).toBeNull();
    expect(repeatedSingleton(['content-range', 'a', 'date', 'x', 'Content-Range', 'b'])).toBe(
      'content-range',
    );
    expect(repeatedSingleton([])).toBeNull();
  });

  it('reads values and tokens', () => {
    const headers = ['accept', 'a', 'te', 'gzip, Trailers', 'accept', 'b'];
    expect(getHeader(headers, 'accept')).toBe('a');
    expect(getHeaders(headers, 'accept')).toEqual(['a', 'b']);
    expect(getHeader(headers, 'host')).toBeUndefined();
    expect(hasToken(getHeader(headers, 'te'), 'trailers')).toBe(true);
    expect(hasToken(undefined, 'trailers')).toBe(false);
    expect(
      headerList({ 'Content-Type': 'text/plain', 'Set-Cookie': ['a=1', 'b=2'], 'X-N': 3 }),
    ).toEqual(['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-n', '3']);
  });
});
