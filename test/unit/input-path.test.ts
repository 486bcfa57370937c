import { describe, expect, it } from 'vitest';
import { inputPath } from '../../src/http/error-masking.ts';

describe('inputPath (issues for GraphQL’s own BAD_USER_INPUT errors)', () => {
  it.each([
    ['Variable "$input" got invalid value 5 at "input.title"; String cannot represent a non string value: 5', 'input.title'],
    ['Variable "$first" got invalid value "x"; Int cannot represent non-integer value: "x"', 'first'],
    ['Variable "$input" of required type "SendMessageInput!" was not provided.', 'input'],
    ['Syntax Error: Expected Name, found "}".', ''],
    ['Cannot query field "nope" on type "User".', ''],
  ])('%s → %s', (message, path) => {
    expect(inputPath(message)).toBe(path);
  });
});
