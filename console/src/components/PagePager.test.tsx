import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { PagePager } from './ui';

afterEach(cleanup);

describe('PagePager', () => {
  it('shows an exact total as it is and stops at the last page', () => {
    render(<PagePager page={4} pages={4} total={87} onChange={() => {}} />);
    expect(screen.getByRole('navigation', { name: 'Pages' }).textContent).toContain('Page 4 of 4 · 87 in all');
    expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows a capped total as a lower bound and lets one page on past it', () => {
    render(<PagePager page={400} pages={400} total={10000} capped onChange={() => {}} />);
    expect(screen.getByRole('navigation', { name: 'Pages' }).textContent).toContain('Page 400 of 400+ · 10,000+ in all');
    expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(false);
  });
});
