/**
 * SPEC.md §3 and core/events.ts must name the same events with the same fields, in both
 * directions. The code side is read with the TypeScript compiler API from the `InboundEvent` and
 * `OutboundEvent` unions; the spec side from the `#### \`type\` (direction)` headings and the
 * `| field | type | meaning |` table under each.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

type Direction = 'inbound' | 'outbound';

/** `direction type` → sorted field names. */
type EventFields = Map<string, string[]>;

const EVENTS_URL = new URL('../../core/events.ts', import.meta.url);
const SPEC_URL = new URL('../../SPEC.md', import.meta.url);

const UNIONS: Record<Direction, string> = { inbound: 'InboundEvent', outbound: 'OutboundEvent' };

function key(direction: Direction, type: string): string {
  return `${direction} ${type}`;
}

function nameOf(name: ts.PropertyName): string {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) {
    return name.text;
  }
  throw new Error(`core/events.ts: unsupported property name ${name.getText()}`);
}

/** The event types and fields of the `InboundEvent` and `OutboundEvent` unions. */
function codeEvents(): { events: EventFields; problems: string[] } {
  const source = ts.createSourceFile(
    'events.ts',
    readFileSync(EVENTS_URL, 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  const aliases = new Map<string, ts.TypeAliasDeclaration>();
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement)) interfaces.set(statement.name.text, statement);
    if (ts.isTypeAliasDeclaration(statement)) aliases.set(statement.name.text, statement);
  }

  const problems: string[] = [];
  const events: EventFields = new Map();

  /** Every property signature of an interface, its `extends` clauses included. */
  const members = (declaration: ts.InterfaceDeclaration): ts.PropertySignature[] => {
    const own = declaration.members.filter(ts.isPropertySignature);
    const inherited = (declaration.heritageClauses ?? []).flatMap((clause) =>
      clause.types.flatMap((base) => {
        const parent = ts.isIdentifier(base.expression)
          ? interfaces.get(base.expression.text)
          : undefined;
        if (parent === undefined) {
          problems.push(`${declaration.name.text} extends ${base.getText()}, not found`);
          return [];
        }
        return members(parent);
      }),
    );
    return [...inherited, ...own];
  };

  /** The interface names a union (or an alias of one) is made of. */
  const memberNames = (node: ts.TypeNode): string[] => {
    if (ts.isUnionTypeNode(node)) return node.types.flatMap(memberNames);
    if (ts.isParenthesizedTypeNode(node)) return memberNames(node.type);
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const alias = aliases.get(node.typeName.text);
      return alias === undefined ? [node.typeName.text] : memberNames(alias.type);
    }
    problems.push(`union member ${node.getText()} is not an interface name`);
    return [];
  };

  for (const direction of ['inbound', 'outbound'] as const) {
    const union = aliases.get(UNIONS[direction]);
    if (union === undefined) {
      problems.push(`type ${UNIONS[direction]} not found in core/events.ts`);
      continue;
    }
    for (const name of memberNames(union.type)) {
      const declaration = interfaces.get(name);
      if (declaration === undefined) {
        problems.push(`${UNIONS[direction]} member ${name} has no interface in core/events.ts`);
        continue;
      }
      const properties = members(declaration);
      const typeNode = properties.find((p) => nameOf(p.name) === 'type')?.type;
      if (
        typeNode === undefined ||
        !ts.isLiteralTypeNode(typeNode) ||
        !ts.isStringLiteral(typeNode.literal)
      ) {
        problems.push(`${name} has no string literal \`type\` property`);
        continue;
      }
      const id = key(direction, typeNode.literal.text);
      if (events.has(id)) problems.push(`${id} is declared twice (again by ${name})`);
      events.set(id, [...new Set(properties.map((p) => nameOf(p.name)))].sort());
    }
  }
  return { events, problems };
}

const HEADING = /^#{1,6}\s/;
const EVENT_HEADING = /^#{1,6}\s+`([^`]+)`\s+\((inbound|outbound)\)\s*$/;
const TABLE_HEADER = /^\|\s*field\s*\|\s*type\s*\|\s*meaning\s*\|\s*$/;
const FIELD_CELL = /^`([^`]+)`$/;

/** The cells of a markdown table row; `\|` inside a cell does not split it. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** The event types and fields of SPEC.md: each event heading and the first table under it. */
function specEvents(): { events: EventFields; problems: string[] } {
  const lines = readFileSync(SPEC_URL, 'utf8').split(/\r?\n/);
  const problems: string[] = [];
  const events: EventFields = new Map();
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('```')) fence = !fence;
    const heading = fence ? null : EVENT_HEADING.exec(lines[i]);
    if (heading === null) continue;
    const id = key(heading[2] as Direction, heading[1]);
    if (events.has(id)) problems.push(`SPEC.md line ${i + 1}: ${id} has a second heading`);
    // The section runs to the next heading; its first `| field | type | meaning |` table counts.
    let j = i + 1;
    while (j < lines.length && !HEADING.test(lines[j]) && !TABLE_HEADER.test(lines[j])) j++;
    const fields: string[] = [];
    if (j >= lines.length || !TABLE_HEADER.test(lines[j])) {
      problems.push(`SPEC.md line ${i + 1}: ${id} has no | field | type | meaning | table`);
    } else {
      // Skip the header and the |---| delimiter row; the table ends at the first non-row line.
      for (j += 2; j < lines.length && lines[j].trim().startsWith('|'); j++) {
        const row = cells(lines[j]);
        const field = FIELD_CELL.exec(row[0] ?? '');
        if (field === null || row.length !== 3 || row[1] === '' || row[2] === '') {
          problems.push(`SPEC.md line ${j + 1}: ${id}: malformed field row: ${lines[j].trim()}`);
          continue;
        }
        if (fields.includes(field[1])) {
          problems.push(`SPEC.md line ${j + 1}: ${id}: field ${field[1]} listed twice`);
        }
        fields.push(field[1]);
      }
    }
    events.set(id, [...new Set(fields)].sort());
  }
  return { events, problems };
}

const code = codeEvents();
const spec = specEvents();
const allEvents = [...new Set([...code.events.keys(), ...spec.events.keys()])].sort();

describe('SPEC.md §3 matches core/events.ts', () => {
  it('parses core/events.ts cleanly and finds events in both directions', () => {
    expect(code.problems).toEqual([]);
    const directions = [...code.events.keys()].map((id) => id.split(' ')[0]);
    expect(new Set(directions)).toEqual(new Set(['inbound', 'outbound']));
  });

  it('parses the event sections of SPEC.md cleanly', () => {
    expect(spec.problems).toEqual([]);
  });

  it('names the same (direction, type) pairs', () => {
    expect([...spec.events.keys()].sort(), 'events in SPEC.md vs core/events.ts').toEqual(
      [...code.events.keys()].sort(),
    );
  });

  it.each(allEvents)('%s: SPEC.md lists exactly the fields of core/events.ts', (id) => {
    const specFields = spec.events.get(id);
    const codeFields = code.events.get(id);
    expect(specFields, `${id} is missing from SPEC.md`).toBeDefined();
    expect(codeFields, `${id} is in SPEC.md but not in core/events.ts`).toBeDefined();
    expect(specFields, `fields of ${id}: SPEC.md vs core/events.ts`).toEqual(codeFields);
  });

  it.each(allEvents)('%s: SPEC.md has the `type` and `stream` rows', (id) => {
    expect(spec.events.get(id) ?? [], `rows of ${id} in SPEC.md`).toEqual(
      expect.arrayContaining(['type', 'stream']),
    );
  });
});
