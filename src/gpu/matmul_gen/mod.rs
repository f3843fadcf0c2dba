//! The matmul family: one generator writes the WGSL of every candidate kernel from its parameters. Each
//! module holds five entry points (NT, NN and TN, the last two also with A read four values at a time) over
//! the bindings and epilogue of `shaders/matmul_common.wgsl`.
//!
//! Three designs:
//! - `Register`: no workgroup memory; each invocation reads its A rows and B columns straight from the
//!   storage buffers into a `tm x tn` block of accumulators (the design that suits CPU drivers).
//! - `Subgroup`: `Register` where eight lanes that share their rows fetch A once between them (a row each, or
//!   in TN one vec4 of four rows each) and pass it around with `subgroupShuffle`. On CPU drivers, where a
//!   fetch from a storage buffer costs many times a multiply-add, tall blocks (up to 64 rows per lane) win.
//! - `Tiled`: the standard GPU design: a `bm x bn` output tile per workgroup, k-tiles of A and B staged in
//!   workgroup memory with vec4 loads, a `tm x tn` block per invocation read from there.

mod wgsl;

/// How a kernel's A operand is laid out and read; B of NN/TN is always (k, n) read as vec4 along n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entry {
    /// A (m, k), B (n, k), both read as vec4 along k.
    Nt,
    /// A (m, k) read one value at a time (any stride).
    Nn,
    /// A (m, k) read as vec4 along k (k, offsets and strides multiples of 4).
    NnA4,
    /// A stored (k, m) read one value at a time.
    Tn,
    /// A stored (k, m) read as vec4 along m (m, offsets and strides multiples of 4).
    TnA4,
}

impl Entry {
    pub const ALL: [Entry; 5] = [Entry::Nt, Entry::Nn, Entry::NnA4, Entry::Tn, Entry::TnA4];

    pub fn name(self) -> &'static str {
        match self {
            Entry::Nt => "matmul_nt",
            Entry::Nn => "matmul_nn",
            Entry::NnA4 => "matmul_nn_a4",
            Entry::Tn => "matmul_tn",
            Entry::TnA4 => "matmul_tn_a4",
        }
    }
}

/// The design of one candidate and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Design {
    /// 64 invocations (8 x 8), each a `tm x tn` block: a (8 tm) x (8 tn) tile per workgroup.
    Register { tm: u32, tn: u32 },
    /// 64 invocations in groups of 8 lanes, each lane a `tm x tn` block (`tm` a multiple of 8): the group's
    /// `tm` rows of A are fetched once, `tm / 8` rows per lane, and shared through `subgroupShuffle`.
    Subgroup { tm: u32, tn: u32 },
    /// A `bm x bn` tile per workgroup of (bm / tm) x (bn / tn) invocations, k-tiles of `bk` in workgroup memory.
    Tiled {
        bm: u32,
        bn: u32,
        bk: u32,
        tm: u32,
        tn: u32,
    },
}

/// One candidate kernel. `faulty` writes a wrong result on purpose: the tests use it to show that the
/// correctness check excludes a candidate that does not compute what the portable kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulKernel {
    pub name: &'static str,
    pub design: Design,
    pub faulty: bool,
}

/// Every candidate, the portable reference first. `Subgroup` needs `Features::SUBGROUP` with subgroups
/// of at least 8 lanes; the `Tiled` ones need their workgroup size and memory within the device's limits.
pub const CANDIDATES: &[MatmulKernel] = &[
    MatmulKernel::new("portable", Design::Register { tm: 8, tn: 8 }),
    MatmulKernel::new("register-4x4", Design::Register { tm: 4, tn: 4 }),
    MatmulKernel::new("register-4x8", Design::Register { tm: 4, tn: 8 }),
    MatmulKernel::new("subgroup", Design::Subgroup { tm: 8, tn: 8 }),
    MatmulKernel::new("subgroup-16x8", Design::Subgroup { tm: 16, tn: 8 }),
    MatmulKernel::new("subgroup-32x4", Design::Subgroup { tm: 32, tn: 4 }),
    MatmulKernel::new("subgroup-32x8", Design::Subgroup { tm: 32, tn: 8 }),
    MatmulKernel::new("subgroup-64x4", Design::Subgroup { tm: 64, tn: 4 }),
    MatmulKernel::new(
        "tiled-64x64x8-8x8",
        Design::Tiled {
            bm: 64,
            bn: 64,
            bk: 8,
            tm: 8,
            tn: 8,
        },
    ),
    MatmulKernel::new(
        "tiled-64x64x16-4x4",
        Design::Tiled {
            bm: 64,
            bn: 64,
            bk: 16,
            tm: 4,
            tn: 4,
        },
    ),
    MatmulKernel::new(
        "tiled-128x64x8-8x8",
        Design::Tiled {
            bm: 128,
            bn: 64,
            bk: 8,
            tm: 8,
            tn: 8,
        },
    ),
    MatmulKernel::new(
        "tiled-128x128x8-8x8",
        Design::Tiled {
            bm: 128,
            bn: 128,
            bk: 8,
            tm: 8,
            tn: 8,
        },
    ),
];

/// The portable kernel: valid on every adapter, the reference of the correctness check.
pub const PORTABLE: MatmulKernel = CANDIDATES[0];

impl MatmulKernel {
    pub const fn new(name: &'static str, design: Design) -> MatmulKernel {
        MatmulKernel {
            name,
            design,
            faulty: false,
        }
    }

    /// A deliberately wrong copy of this kernel (for the test of the correctness check).
    pub const fn faulty(self) -> MatmulKernel {
        MatmulKernel {
            faulty: true,
            name: "faulty",
            ..self
        }
    }

    pub fn by_name(name: &str) -> Option<MatmulKernel> {
        CANDIDATES.iter().copied().find(|k| k.name == name)
    }

    pub fn uses_subgroups(&self) -> bool {
        matches!(self.design, Design::Subgroup { .. })
    }

    /// Output tile of one workgroup: (rows, columns).
    pub fn tile(&self) -> (u32, u32) {
        match self.design {
            Design::Register { tm, tn } | Design::Subgroup { tm, tn } => (8 * tm, 8 * tn),
            Design::Tiled { bm, bn, .. } => (bm, bn),
        }
    }

    /// Invocations per workgroup.
    pub fn threads(&self) -> u32 {
        match self.design {
            Design::Register { .. } | Design::Subgroup { .. } => 64,
            Design::Tiled { bm, bn, tm, tn, .. } => (bm / tm) * (bn / tn),
        }
    }

    /// Bytes of workgroup memory.
    pub fn workgroup_bytes(&self) -> u32 {
        match self.design {
            Design::Tiled { bm, bn, bk, .. } => (bm + bn) * bk * 4,
            _ => 0,
        }
    }
}

/// Matmuls of one entry point whose sizes fall in the same buckets (each a factor of 4 wide) share a
/// tuned kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeClass {
    pub entry: Entry,
    pub m: u8,
    pub n: u8,
    pub k: u8,
    /// More than one matrix per dispatch (attention's per-head products).
    pub batched: bool,
}

impl ShapeClass {
    pub fn of(entry: Entry, m: usize, n: usize, k: usize, batch: usize) -> ShapeClass {
        // ceil(log4(d)): 1 -> 0, 2..4 -> 1, 5..16 -> 2, ..., 257..1024 -> 5, 1025..4096 -> 6.
        let bucket = |d: usize| (usize::BITS - d.max(1).saturating_sub(1).leading_zeros()).div_ceil(2) as u8;
        ShapeClass {
            entry,
            m: bucket(m),
            n: bucket(n),
            k: bucket(k),
            batched: batch > 1,
        }
    }

    /// The class of a [`ShapeClass::key`].
    pub fn parse(key: &str) -> Option<ShapeClass> {
        let mut words = key.split(' ');
        let name = words.next()?;
        let entry = Entry::ALL.into_iter().find(|e| e.name() == name)?;
        let mut size = |prefix: char| words.next()?.strip_prefix(prefix)?.parse::<u8>().ok();
        let (m, n, k) = (size('m')?, size('n')?, size('k')?);
        let batched = match words.next() {
            None => false,
            Some("batched") => true,
            Some(_) => return None,
        };
        Some(ShapeClass {
            entry,
            m,
            n,
            k,
            batched,
        })
    }

    /// A stable text key, e.g. `matmul_nt m5 n6 k5` or `matmul_nt m4 n4 k3 batched`.
    pub fn key(&self) -> String {
        format!(
            "{} m{} n{} k{}{}",
            self.entry.name(),
            self.m,
            self.n,
            self.k,
            if self.batched { " batched" } else { "" }
        )
    }
}

/// Which kernel each matmul uses: one forced for all, or per shape class what tuning chose, else the
/// adapter's default.
#[derive(Clone, Debug)]
pub struct MatmulPlan {
    pub forced: Option<MatmulKernel>,
    pub chosen: std::collections::BTreeMap<ShapeClass, MatmulKernel>,
    /// For classes that were not tuned: the subgroup kernel where it runs, else the portable one.
    pub default: MatmulKernel,
}

impl MatmulPlan {
    pub fn kernel(&self, class: &ShapeClass) -> MatmulKernel {
        self.forced
            .or_else(|| self.chosen.get(class).copied())
            .unwrap_or(self.default)
    }
}
