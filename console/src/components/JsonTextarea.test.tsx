import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { JsonTextarea } from './JsonTextarea';

function Harness({ initial, errors }: { initial: string; errors?: string[] }) {
  const [v, setV] = useState(initial);
  return <JsonTextarea label="Skip if (JSONLogic)" value={v} onChange={setV} errors={errors} />;
}

afterEach(cleanup);

describe('JsonTextarea', () => {
  it('names the line and column of a syntax error and ties it to the field', () => {
    render(<Harness initial={'{"==": [1, 1]}'} />);
    const box = screen.getByLabelText('Skip if (JSONLogic)');
    expect(box.getAttribute('aria-invalid')).toBe('false');
    fireEvent.change(box, { target: { value: '{\n  "==": [1, 1\n}' } });
    expect(box.getAttribute('aria-invalid')).toBe('true');
    const described = document.getElementById(box.getAttribute('aria-describedby')!.split(' ')[0])!;
    expect(described.textContent).toMatch(/Line 3, column 1: Unexpected "}", expected "," or "]"/);
  });

  it('shows server messages for its path next to the field', () => {
    render(<Harness initial="" errors={['invalid JSONLogic: unknown operator `no_such`']} />);
    expect(screen.getByText(/unknown operator/)).toBeTruthy();
  });
});
