import { describe, expect, it } from 'vitest';
import { shellCommandLine, shellQuote } from '../lib/shell-words';

describe('shellQuote', () => {
  it('leaves plain words alone and single-quotes the rest so sh reads them back unchanged', () => {
    expect(shellQuote('--servers')).toBe('--servers');
    expect(shellQuote('127.0.0.1:31113:31113@loadbalancer')).toBe('127.0.0.1:31113:31113@loadbalancer');
    expect(shellQuote('server:*;agent:*')).toBe(`'server:*;agent:*'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
    expect(shellCommandLine(['echo', 'a b', '$HOME'])).toBe(`echo 'a b' '$HOME'`);
  });
});
