// Errors in words a user can act on. viem wraps a contract's refusal in
// several layers whose short message ends in a colon and puts the reason
// on the next line; keeping only a first line left a zero-ETH user with
// 'The contract function "createChannel" reverted with the following
// reason:' and nothing after it. So the cause is looked up, not cut off.

import { BaseError, ContractFunctionRevertedError, InsufficientFundsError } from 'viem';
import { shorten } from './dom';
import { NodeError } from '@cairn/client';
import { isRejection } from './wallet';

/** The longest text shown for an error we have no words of our own for. */
const MAX_SHOWN = 300;

/** An error in words a user can act on, in one line. */
export function describe(error: unknown): string {
  if (isRejection(error)) return 'You declined the request in your wallet.';
  if (error instanceof NodeError) {
    if (error.status === 0) return 'The Cairn node does not answer. Is it running?';
    if (error.code === 'uploads_disabled' || error.status === 404) return `The node refused: ${error.message}`;
    if (error.status >= 500) return `The node or its gateway is unavailable (${error.code}); try again shortly.`;
    return `The node refused: ${error.message}`;
  }
  if (error instanceof BaseError) {
    if (error.walk((e) => e instanceof InsufficientFundsError)) return 'Your wallet has too little ETH to pay for this transaction.';
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      const why = reverted.reason ?? reverted.data?.errorName ?? reverted.signature;
      return why ? `The contract refused: ${why}.` : 'The contract refused, and gave no reason.';
    }
    return oneLine(error.details ? `${error.shortMessage} ${error.details}` : error.shortMessage);
  }
  return oneLine(error instanceof Error ? error.message : String(error));
}

function oneLine(text: string): string {
  return shorten(text.replace(/\s*\n\s*/g, ' ').trim(), MAX_SHOWN);
}
