// What a user reads when something fails: the cause, in one line.

import { BaseError, ContractFunctionExecutionError, ContractFunctionRevertedError, InsufficientFundsError, parseAbi } from 'viem';
import { describe as suite, expect, it } from 'vitest';
import { describe } from '../src/errors';
import { NodeError } from '@cairn/client';

const abi = parseAbi(['function createChannel(string name)']);

suite('describe', () => {
  it("keeps a contract's reason, which viem puts after the first line", () => {
    const reverted = new ContractFunctionRevertedError({ abi, functionName: 'createChannel', message: 'only an admin may do this' });
    expect(reverted.shortMessage.split('\n')[0]).toMatch(/reverted with the following reason:$/);
    const wrapped = new ContractFunctionExecutionError(reverted, { abi, functionName: 'createChannel', args: ['dao'] });
    expect(describe(wrapped)).toBe('The contract refused: only an admin may do this.');
  });
  it('names a wallet without ETH for gas', () => {
    const poor = new BaseError('The transaction could not be sent.', { cause: new InsufficientFundsError() });
    expect(describe(poor)).toBe('Your wallet has too little ETH to pay for this transaction.');
  });
  it('says what the node answered', () => {
    expect(describe(new NodeError(0, 'unreachable', 'fetch failed'))).toMatch(/does not answer/);
    expect(describe(new NodeError(403, 'not_a_channel_poster', 'not a member'))).toBe('The node refused: not a member');
  });
  it('puts any other error on one bounded line', () => {
    expect(describe(new Error('first\n  second'))).toBe('first second');
    expect(describe('x'.repeat(1000)).length).toBe(300);
  });
});
