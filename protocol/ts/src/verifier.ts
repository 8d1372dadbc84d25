// A FlatBuffers verifier for untrusted bytes. The FlatBuffers TypeScript
// runtime reads without checking, so every buffer from the network goes
// through here first. The checks are the ones the Rust `flatbuffers` crate
// (25.12.19) makes, in the same way, so both sides accept and refuse the same
// bytes (protocol/vectors/mutations.json holds the proof): every offset,
// vtable, vector, string and scalar must lie inside the buffer and be aligned
// to its size relative to the start of the buffer; strings must be UTF-8 with
// a 0 terminator; required fields and union pairs must be present; and the
// number of tables, their nesting depth and the bytes visited are bounded.

/** Bounds applied while verifying one buffer. */
export interface VerifierLimits {
  /** Deepest table nesting accepted. */
  readonly maxDepth: number;
  /** Most tables accepted in one buffer. */
  readonly maxTables: number;
  /** Most bytes visited (the buffer's size if its object graph were a tree). */
  readonly maxApparentSize: number;
}

/** Why a buffer was refused. */
export type InvalidReason =
  | "out_of_bounds"
  | "unaligned"
  | "bad_soffset"
  | "utf8"
  | "missing_null_terminator"
  | "missing_required"
  | "inconsistent_union"
  | "too_many_tables"
  | "too_deep"
  | "too_large";

/** Thrown by {@link verify} when a buffer is not a valid FlatBuffer of the expected type. */
export class InvalidFlatbuffer extends Error {
  constructor(
    readonly reason: InvalidReason,
    /** Byte position the check failed at (-1 for the size and count limits). */
    readonly position: number,
    readonly field?: string,
  ) {
    super(`${reason.replaceAll("_", " ")} at byte ${position}${field ? ` (${field})` : ""}`);
    this.name = "InvalidFlatbuffer";
  }
}

/** How the fields of one table are checked, slot by slot. */
export interface TableLayout {
  /** The table's name in the schema. */
  readonly name: string;
  /** Number of field slots (a union takes two: its type and its value). */
  readonly slots: number;
  /** Checks the present fields of the table at hand. */
  readonly check: (table: TableVerifier) => void;
}

/** Describes a table: `slots` must equal what the generated builder passes to `startObject`. */
export function table(name: string, slots: number, check: (table: TableVerifier) => void): TableLayout {
  return { name, slots, check };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const U16 = 2;
const U32 = 4;

/** State of one verification: the counters the limits bound. */
export class Verifier {
  private depth = 0;
  private tables = 0;
  private apparent = 0;

  constructor(
    readonly bytes: Uint8Array,
    private readonly limits: VerifierLimits,
  ) {}

  /** Fails unless `pos` is a multiple of `align`. */
  aligned(pos: number, align: number): void {
    if (pos % align !== 0) throw new InvalidFlatbuffer("unaligned", pos);
  }

  /** Fails unless `size` bytes at `pos` are inside the buffer; counts them against the size limit. */
  range(pos: number, size: number): void {
    if (pos + size > this.bytes.length) throw new InvalidFlatbuffer("out_of_bounds", pos);
    this.apparent += size;
    if (this.apparent > this.limits.maxApparentSize) throw new InvalidFlatbuffer("too_large", -1);
  }

  /** A scalar of `size` bytes (aligned to its size) at `pos`. */
  scalar(pos: number, size: number): void {
    this.aligned(pos, size);
    this.range(pos, size);
  }

  u8(pos: number): number {
    this.scalar(pos, 1);
    return this.bytes[pos] ?? 0;
  }

  u16(pos: number): number {
    this.scalar(pos, U16);
    const b = this.bytes;
    return (b[pos] ?? 0) | ((b[pos + 1] ?? 0) << 8);
  }

  u32(pos: number): number {
    this.scalar(pos, U32);
    const b = this.bytes;
    return ((b[pos] ?? 0) | ((b[pos + 1] ?? 0) << 8) | ((b[pos + 2] ?? 0) << 16) | ((b[pos + 3] ?? 0) << 24)) >>> 0;
  }

  /** The position an unsigned offset at `pos` points to. */
  follow(pos: number): number {
    return pos + this.u32(pos);
  }

  /** Verifies the table at `pos` against `layout`. */
  table(pos: number, layout: TableLayout): void {
    const soffset = this.u32(pos) | 0;
    // A table's signed offset is subtracted to find its vtable.
    const vtable = pos - soffset;
    if (vtable < 0 || vtable >= this.bytes.length) throw new InvalidFlatbuffer("bad_soffset", pos, layout.name);
    const vtableLength = this.u16(vtable);
    this.aligned(vtable + vtableLength, U16);
    this.range(vtable, vtableLength);
    this.tables += 1;
    if (this.tables > this.limits.maxTables) throw new InvalidFlatbuffer("too_many_tables", -1);
    this.depth += 1;
    if (this.depth > this.limits.maxDepth) throw new InvalidFlatbuffer("too_deep", -1);
    layout.check(new TableVerifier(this, layout.name, pos, vtable, vtableLength));
    this.depth -= 1;
  }

  /** A vector of `count` elements of `elementSize` bytes at `pos`; returns the first element's position. */
  vector(pos: number, elementSize: number, elementAlign: number): { start: number; length: number } {
    const length = this.u32(pos);
    const start = pos + U32;
    this.aligned(start, elementAlign);
    this.range(start, length * elementSize);
    return { start, length };
  }

  /** A string at `pos`: a byte vector holding UTF-8, followed by a 0 byte. */
  string(pos: number): void {
    const { start, length } = this.vector(pos, 1, 1);
    const end = start + length;
    try {
      utf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw new InvalidFlatbuffer("utf8", start);
    }
    if (this.bytes[end] !== 0) throw new InvalidFlatbuffer("missing_null_terminator", end);
  }
}

/** Checks the fields of one table; each method checks one slot if it is present. */
export class TableVerifier {
  constructor(
    private readonly v: Verifier,
    private readonly name: string,
    private readonly pos: number,
    private readonly vtable: number,
    private readonly vtableLength: number,
  ) {}

  /** Absolute position of slot `slot`'s value, or null when the field is absent. */
  private field(slot: number): number | null {
    const voffset = 4 + 2 * slot;
    if (voffset >= this.vtableLength) return null;
    const offset = this.v.u16(this.vtable + voffset);
    return offset > 0 ? this.pos + offset : null;
  }

  private missing(slot: number, what: string): void {
    throw new InvalidFlatbuffer("missing_required", this.pos, `${this.name}.${what} (slot ${slot})`);
  }

  /** A scalar field of `size` bytes (1, 2, 4 or 8). */
  scalar(slot: number, size: number): void {
    const at = this.field(slot);
    if (at !== null) this.v.scalar(at, size);
  }

  /** A string field. */
  string(slot: number, required = false): void {
    const at = this.field(slot);
    if (at === null) {
      if (required) this.missing(slot, "string");
      return;
    }
    this.v.string(this.v.follow(at));
  }

  /** A vector of bytes (or of any 1-byte scalar). */
  bytes(slot: number): void {
    const at = this.field(slot);
    if (at !== null) this.v.vector(this.v.follow(at), 1, 1);
  }

  /** A vector of structs of `size` bytes each. Like the Rust verifier, struct vectors are not alignment-checked. */
  structs(slot: number, size: number): void {
    const at = this.field(slot);
    if (at !== null) this.v.vector(this.v.follow(at), size, 1);
  }

  /** An inline struct field of `size` bytes aligned to `align`. */
  struct(slot: number, size: number, align: number, required = false): void {
    const at = this.field(slot);
    if (at === null) {
      if (required) this.missing(slot, "struct");
      return;
    }
    this.v.aligned(at, align);
    this.v.range(at, size);
  }

  /** A sub-table field. */
  table(slot: number, layout: TableLayout, required = false): void {
    const at = this.field(slot);
    if (at === null) {
      if (required) this.missing(slot, layout.name);
      return;
    }
    this.v.table(this.v.follow(at), layout);
  }

  /** A vector of tables. */
  tables(slot: number, layout: TableLayout): void {
    const at = this.field(slot);
    if (at === null) return;
    const { start, length } = this.v.vector(this.v.follow(at), U32, U32);
    for (let i = 0; i < length; i++) {
      const element = start + i * U32;
      this.v.table(this.v.follow(element), layout);
    }
  }

  /**
   * A union: its type in slot `typeSlot`, its value in the next slot. A type
   * this layout does not know is accepted (a newer peer may send it); the
   * decoder then refuses it as an unknown message.
   */
  union(typeSlot: number, variants: ReadonlyMap<number, TableLayout>, required = false): void {
    const value = this.field(typeSlot + 1);
    const type = this.field(typeSlot);
    if (type === null && value === null) {
      if (required) this.missing(typeSlot + 1, "union");
      return;
    }
    if (type === null || value === null) {
      throw new InvalidFlatbuffer("inconsistent_union", this.pos, this.name);
    }
    const layout = variants.get(this.v.u8(type));
    if (layout) this.v.table(this.v.follow(value), layout);
  }
}

/** Like {@link verify}, for a size-prefixed FlatBuffer (`bytes` includes the 4-byte prefix). */
export function verifySizePrefixed(bytes: Uint8Array, root: TableLayout, limits: VerifierLimits): void {
  const v = new Verifier(bytes, limits);
  v.table(v.follow(4), root);
}

/** Verifies that `bytes` hold a FlatBuffer whose root table matches `root`; throws {@link InvalidFlatbuffer}. */
export function verify(bytes: Uint8Array, root: TableLayout, limits: VerifierLimits): void {
  const v = new Verifier(bytes, limits);
  v.table(v.follow(0), root);
}
