import { describe, expect, it } from 'vitest';
import { canTransition, isLive } from '../../src/core/meetings/meeting-state.js';

describe('meeting state machine', () => {
  it('allows the guide flows', () => {
    expect(canTransition('pending', 'claim')).toBe(true);
    expect(canTransition('processing', 'claim')).toBe(true); // a retry stays processing
    expect(canTransition('processing', 'complete')).toBe(true);
    expect(canTransition('processing', 'fail')).toBe(true);
    expect(canTransition('failed', 'retry')).toBe(true);
  });

  it('refuses what would flicker or resurrect', () => {
    expect(canTransition('failed', 'claim')).toBe(false);
    expect(canTransition('completed', 'claim')).toBe(false);
    expect(canTransition('completed', 'fail')).toBe(false);
    expect(canTransition('pending', 'complete')).toBe(false);
    expect(canTransition('completed', 'retry')).toBe(false);
  });

  it('knows live statuses', () => {
    expect(isLive('pending')).toBe(true);
    expect(isLive('processing')).toBe(true);
    expect(isLive('completed')).toBe(false);
    expect(isLive('failed')).toBe(false);
  });
});
