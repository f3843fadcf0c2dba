"""Minimal reader for R lazy-load databases (.rdx/.rdb) and R's XDR serialization. Standard library only.

Enough of R's unserialize() for data sets: character, logical, integer, double and raw vectors, lists,
pairlists, attributes, symbols, references and the common ALTREP classes (compact sequences, wrappers,
deferred strings). Environments are read as dicts. Byte code, external pointers and the like are refused.

    index = read_rdx("Rdata.rdx")                # {"variables": {...}, "references": {...}, "compressed": ...}
    value = read_lazy_object("Rdata.rdb", index["variables"]["emma"], index["compressed"])
"""
import bz2
import gzip
import lzma
import struct
import zlib


class RObject:
    """A value with R attributes: .value holds the Python value, .attrs a dict (names, class, ...)."""

    def __init__(self, value, attrs):
        self.value = value
        self.attrs = attrs

    def __repr__(self):
        return "RObject(%r, attrs=%r)" % (self.value, list(self.attrs))


class RSymbol(str):
    pass


# Special items (serialize.c)
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP = 255, 254, 253, 252, 251, 250
NAMESPACESXP, PACKAGESXP, PERSISTSXP, EMPTYENV_SXP, BASEENV_SXP = 249, 248, 247, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 240, 239, 238
# SEXP types (Rinternals.h)
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP, SPECIALSXP, BUILTINSXP, CHARSXP = range(10)
LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP, DOTSXP = 10, 13, 14, 15, 16, 17
VECSXP, EXPRSXP, RAWSXP, S4SXP = 19, 20, 24, 25


class Unserializer:
    def __init__(self, data):
        self.d = data
        self.p = 0
        self.refs = []
        self.encoding = "utf-8"

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("R serialization: truncated data")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def read(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            raise ValueError("R serialization: only the XDR format is supported, found %r" % fmt)
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal R version
        if version == 3:
            n = self.int()
            self.encoding = self.take(n).decode("ascii").lower()
        elif version != 2:
            raise ValueError("R serialization: unknown version %d" % version)
        return self.item()

    def attributes(self, has_attr):
        return self.pairlist_dict(self.item()) if has_attr else {}

    @staticmethod
    def pairlist_dict(value):
        if value is None:
            return {}
        if isinstance(value, RObject):
            value = value.value
        return {str(k): v for k, v in value}

    def wrap(self, value, attrs):
        return RObject(value, attrs) if attrs else value

    def charsxp(self, levels):
        n = self.int()
        if n == -1:
            return None  # NA_character_
        raw = self.take(n)
        if levels & (1 << 2):
            return raw.decode("latin-1")
        if levels & (1 << 1):
            return raw  # bytes
        return raw.decode("utf-8" if levels & ((1 << 3) | (1 << 6)) else self.encoding, errors="replace")

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if t == NILVALUE_SXP:
            return None
        if t in (EMPTYENV_SXP, BASEENV_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP):
            return "<special %d>" % t
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            return self.refs[i - 1]
        if t == PERSISTSXP:
            v = self.string_vec()
            self.refs.append(("<persist>", v))
            return self.refs[-1]
        if t == SYMSXP:
            sym = RSymbol(self.item())
            self.refs.append(sym)
            return sym
        if t in (PACKAGESXP, NAMESPACESXP):
            v = ("<namespace>", self.string_vec())
            self.refs.append(v)
            return v
        if t == ENVSXP:
            self.int()  # locked
            env = {}
            self.refs.append(env)  # registered before its contents, which may refer to it
            self.item()  # enclosing environment
            frame = self.item()
            hashtab = self.item()
            self.item()  # attributes
            for k, v in (frame.value if isinstance(frame, RObject) else frame or []):
                env[str(k)] = v
            if hashtab is not None:
                buckets = hashtab.value if isinstance(hashtab, RObject) else hashtab
                for bucket in buckets:
                    for k, v in (bucket.value if isinstance(bucket, RObject) else bucket or []):
                        env[str(k)] = v
            return env
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            # A pairlist, read iteratively along the CDR chain: [(tag, value), ...]
            out = []
            attrs = {}
            first = True
            while True:
                a = self.attributes(has_attr)
                if first:
                    attrs = a
                    first = False
                tag = self.item() if has_tag else None
                car = self.item()
                out.append((tag, car))
                nxt = self.int()
                nt = nxt & 0xFF
                if nt in (LISTSXP, LANGSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP) and t in (LISTSXP, ATTRLISTSXP):
                    has_attr = bool(nxt & (1 << 9))
                    has_tag = bool(nxt & (1 << 10))
                    continue
                self.p -= 4
                cdr = self.item()
                if cdr is not None:
                    out.append((None, cdr))
                break
            return self.wrap(out, attrs)
        if t == ALTREP_SXP:
            info = self.item()
            state = self.item()
            attr = self.item()
            return self.wrap(self.altrep(info, state), self.pairlist_dict(attr))
        if t == CHARSXP:
            return self.charsxp(levels)
        if t in (LGLSXP, INTSXP):
            n = self.length()
            vals = struct.unpack(">%di" % n, self.take(4 * n))
            vals = [None if v == -2147483648 else v for v in vals]
            if t == LGLSXP:
                vals = [None if v is None else bool(v) for v in vals]
            value = vals
        elif t == REALSXP:
            n = self.length()
            value = list(struct.unpack(">%dd" % n, self.take(8 * n)))
        elif t == CPLXSXP:
            n = self.length()
            v = struct.unpack(">%dd" % (2 * n), self.take(16 * n))
            value = [complex(v[2 * i], v[2 * i + 1]) for i in range(n)]
        elif t == STRSXP:
            n = self.length()
            value = [self.item() for _ in range(n)]
        elif t in (VECSXP, EXPRSXP):
            n = self.length()
            value = [self.item() for _ in range(n)]
        elif t == RAWSXP:
            n = self.length()
            value = self.take(n)
        elif t == S4SXP:
            value = None
        else:
            raise ValueError("R serialization: unsupported SEXP type %d" % t)
        return self.wrap(value, self.attributes(has_attr))

    def string_vec(self):
        if self.int() != 0:
            raise ValueError("R serialization: bad string vector")
        n = self.int()
        return [self.item() for _ in range(n)]

    def altrep(self, info, state):
        cls = str(info.value[0][1] if isinstance(info, RObject) else info[0][1])
        st = state.value if isinstance(state, RObject) else state
        if cls in ("compact_intseq", "compact_realseq"):
            n, n1, inc = st
            conv = int if cls == "compact_intseq" else float
            return [conv(n1 + i * inc) for i in range(int(n))]
        if cls.startswith("wrap_"):
            x = st[0]
            return x.value if isinstance(x, RObject) else x
        if cls == "deferred_string":
            arg = st[0][1] if isinstance(st, list) and isinstance(st[0], tuple) else st
            arg = arg.value if isinstance(arg, RObject) else arg
            return [None if v is None else (str(int(v)) if float(v).is_integer() else repr(v)) for v in arg]
        raise ValueError("R serialization: unsupported ALTREP class %s" % cls)


def unserialize(data):
    return Unserializer(data).read()


def decompress_record(raw, compressed=1):
    """A lazy-load record: 4-byte big-endian uncompressed length, then the compressed stream."""
    n = struct.unpack(">I", raw[:4])[0]
    if compressed in (True, 1):
        out = zlib.decompress(raw[4:])
    elif compressed == 2:
        out = bz2.decompress(raw[5:]) if raw[4:5] == b"2" else raw[5:]
    elif compressed == 3:
        kind = raw[4:5]
        out = lzma.decompress(raw[5:]) if kind == b"Z" else bz2.decompress(raw[5:]) if kind == b"2" else raw[5:]
    else:
        out = raw[4:]
    if len(out) != n:
        raise ValueError("lazy-load record: expected %d bytes, got %d" % (n, len(out)))
    return out


def read_rdx(path):
    """The index of a lazy-load database: a gzip (saveRDS) or zlib record holding a named list."""
    raw = open(path, "rb").read()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else decompress_record(raw)
    obj = unserialize(data)
    names = obj.attrs["names"]
    out = {}
    for name, value in zip(names, obj.value):
        if isinstance(value, RObject) and "names" in value.attrs:
            value = dict(zip(value.attrs["names"], value.value))
        elif isinstance(value, list) and len(value) == 1:
            value = value[0]
        out[name] = value
    return out


def read_lazy_object(rdb_path, entry, compressed=1):
    """The object stored at entry = [offset, length] of the .rdb file."""
    offset, length = entry.value if isinstance(entry, RObject) else entry
    with open(rdb_path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    return unserialize(decompress_record(raw, compressed))
