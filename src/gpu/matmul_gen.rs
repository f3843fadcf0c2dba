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

use std::fmt::Write;

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

    /// The WGSL module (without `common.wgsl` and `matmul_common.wgsl`, which the registry prepends).
    pub fn source(&self) -> String {
        let mut s = format!(
            "// Generated by src/gpu/matmul_gen.rs: candidate `{}` ({:?}).\n",
            self.name, self.design
        );
        if let Design::Tiled { bm, bn, bk, tm, tn } = self.design {
            let _ = write!(
                s,
                "const BM = {bm}u;\nconst BN = {bn}u;\nconst BK = {bk}u;\nconst TM = {tm}u;\nconst TN = {tn}u;\n\
                 const THREADS = {}u;\n\
                 // k-major tiles: tile_a[kk * BM / 4 + r / 4][r % 4] = A(row0 + r, k0 + kk), likewise tile_b.\n\
                 var<workgroup> tile_a: array<vec4<f32>, {}>;  // (BK, BM / 4)\n\
                 var<workgroup> tile_b: array<vec4<f32>, {}>;  // (BK, BN / 4)\n",
                self.threads(),
                bk * bm / 4,
                bk * bn / 4
            );
        }
        for entry in Entry::ALL {
            s.push('\n');
            match self.design {
                Design::Tiled { .. } => self.tiled_entry(&mut s, entry),
                _ => self.register_entry(&mut s, entry),
            }
        }
        s
    }

    fn header(&self, s: &mut String, entry: Entry, subgroup: bool) {
        let sid = if subgroup {
            ", @builtin(subgroup_invocation_id) sid: u32"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "@compute @workgroup_size({})\nfn {}(@builtin(local_invocation_index) lid: u32, \
             @builtin(workgroup_id) wg: vec3<u32>{sid}) {{",
            self.threads(),
            entry.name()
        );
        s.push_str(
            "    let zo = wg.z / p.batch_inner;\n    let zi = wg.z % p.batch_inner;\n\
             \x20   let a_base = p.a_off + zo * p.a_so + zi * p.a_si;  // in f32\n\
             \x20   let b_base = p.b_off + zo * p.b_so + zi * p.b_si;  // in f32\n\
             \x20   let y_base = p.y_off + zo * p.y_so + zi * p.y_si;  // in f32\n",
        );
    }

    /// Register and subgroup designs: straight-line code, every accumulator a named vec4.
    fn register_entry(&self, s: &mut String, entry: Entry) {
        let (tm, tn) = match self.design {
            Design::Register { tm, tn } | Design::Subgroup { tm, tn } => (tm, tn),
            Design::Tiled { .. } => unreachable!("tiled kernels are written by tiled_entry"),
        };
        // The subgroup design shares A through shuffles.
        let shuffle = self.uses_subgroups();
        self.header(s, entry, shuffle);
        let (tile_m, tile_n) = (8 * tm, 8 * tn);
        if shuffle {
            s.push_str(
                "    // Eight consecutive lanes share the same rows of Y: lane i fetches what rows m0 + i, m0 + 8 + i, ...\n\
                 \x20   // need and the others read it through subgroupShuffle, so each A value is fetched once per group.\n\
                 \x20   let lane = sid % 8u;\n    let first = sid - lane;\n",
            );
            let _ = writeln!(
                s,
                "    let m0 = wg.y * {tile_m}u + (lid / 8u) * {tm}u;  // the group's {tm} rows of Y"
            );
            let _ = writeln!(
                s,
                "    let n0 = wg.x * {tile_n}u + lane * {tn}u;  // this invocation's {tn} columns"
            );
        } else {
            let _ = writeln!(
                s,
                "    let m0 = wg.y * {tile_m}u + (lid / 8u) * {tm}u;  // this invocation's {tm} rows of Y"
            );
            let _ = writeln!(
                s,
                "    let n0 = wg.x * {tile_n}u + (lid % 8u) * {tn}u;  // and its {tn} columns"
            );
        }
        let nv = tn / 4;
        for i in 0..tm {
            let decl: Vec<String> = (0..nv).map(|j| format!("var c{i}_{j} = vec4<f32>();")).collect();
            let _ = writeln!(s, "    {}", decl.join(" "));
        }
        // Where A's rows start (vec4 reads along k).
        let a_rows = |s: &mut String| {
            s.push_str("    let a_rs = p.a_rs / 4u;\n");
            if shuffle {
                for r in 0..tm / 8 {
                    let _ = writeln!(
                        s,
                        "    let my_row{r} = a_base / 4u + min(m0 + {}u + lane, p.m - 1u) * a_rs;",
                        8 * r
                    );
                }
            } else {
                for i in 0..tm {
                    let _ = writeln!(s, "    let ra{i} = a_base / 4u + min(m0 + {i}u, p.m - 1u) * a_rs;");
                }
            }
        };
        // Fetches A(m0 + i, k-step kk) as vec4 `a{i}` from rows set up by `a_rows`.
        let a_fetch = |s: &mut String, kk: &str| {
            if shuffle {
                for r in 0..tm / 8 {
                    let _ = writeln!(s, "        let mine{r} = a[my_row{r} + {kk}];");
                }
                shuffles(s, tm);
            } else {
                for i in 0..tm {
                    let _ = writeln!(s, "        let a{i} = a[ra{i} + {kk}];");
                }
            }
        };
        match entry {
            Entry::Nt => {
                a_rows(s);
                s.push_str("    let b_rs = p.b_rs / 4u;\n");
                for j in 0..tn {
                    let _ = writeln!(s, "    let rb{j} = b_base / 4u + min(n0 + {j}u, p.n - 1u) * b_rs;");
                }
                s.push_str("    for (var kk = 0u; kk < p.k / 4u; kk++) {\n");
                a_fetch(s, "kk");
                for j in 0..tn {
                    let _ = writeln!(s, "        let b{j} = b[rb{j} + kk];");
                }
                for i in 0..tm {
                    for j in 0..nv {
                        let _ = writeln!(
                            s,
                            "        c{i}_{j} += dots4(a{i}, b{}, b{}, b{}, b{});",
                            4 * j,
                            4 * j + 1,
                            4 * j + 2,
                            4 * j + 3
                        );
                    }
                }
            }
            Entry::Nn | Entry::NnA4 => {
                s.push_str("    let col = b_base / 4u + n0 / 4u;\n    let b_rs = p.b_rs / 4u;\n");
                if entry == Entry::NnA4 {
                    a_rows(s);
                }
                s.push_str("    for (var k0 = 0u; k0 < p.k; k0 += 4u) {\n");
                if entry == Entry::NnA4 {
                    a_fetch(s, "k0 / 4u");
                } else {
                    let at = |s: &mut String, name: &str, row: &str| {
                        let _ = writeln!(
                            s,
                            "        let {name} = vec4<f32>(a_at(a_base, {row}, k0, p.m, p.k), \
                             a_at(a_base, {row}, k0 + 1u, p.m, p.k),\n            \
                             a_at(a_base, {row}, k0 + 2u, p.m, p.k), a_at(a_base, {row}, k0 + 3u, p.m, p.k));"
                        );
                    };
                    if shuffle {
                        for r in 0..tm / 8 {
                            at(s, &format!("mine{r}"), &format!("m0 + {}u + lane", 8 * r));
                        }
                        shuffles(s, tm);
                    } else {
                        for i in 0..tm {
                            at(s, &format!("a{i}"), &format!("m0 + {i}u"));
                        }
                    }
                }
                for t in 0..4 {
                    let _ = writeln!(s, "        let r{t} = col + min(k0 + {t}u, p.k - 1u) * b_rs;");
                    for j in 0..nv {
                        let _ = writeln!(s, "        let b{t}_{j} = b[r{t} + {j}u];");
                    }
                }
                for i in 0..tm {
                    for j in 0..nv {
                        let _ = writeln!(
                            s,
                            "        c{i}_{j} += a{i}.x * b0_{j} + a{i}.y * b1_{j} + a{i}.z * b2_{j} + a{i}.w * b3_{j};"
                        );
                    }
                }
            }
            Entry::Tn | Entry::TnA4 => {
                s.push_str("    let col = b_base / 4u + n0 / 4u;\n    let b_rs = p.b_rs / 4u;\n");
                if entry == Entry::TnA4 {
                    s.push_str("    let a_rs = p.a_rs / 4u;\n");
                }
                s.push_str("    for (var kk = 0u; kk < p.k; kk++) {\n        let brow = col + kk * b_rs;\n");
                for j in 0..nv {
                    let _ = writeln!(s, "        let b{j} = b[brow + {j}u];");
                }
                if entry == Entry::TnA4 {
                    // A row kk holds A^T's column: m0.. m0 + tm are tm / 4 vec4s. Past m (up to the next
                    // multiple of 4, within the aligned row stride) they feed rows of Y that are not stored.
                    s.push_str("        let arow = a_base / 4u + kk * a_rs;\n");
                    if shuffle {
                        // Lane i fetches vec4 i of the group's tm values (then 8 + i, ...): one read per lane.
                        for r in 0..tm.div_ceil(32) {
                            let _ = writeln!(
                                s,
                                "        let mine{r} = a[arow + min(m0 / 4u + {}u + lane, (p.m + 3u) / 4u - 1u)];",
                                8 * r
                            );
                        }
                        for i in 0..tm {
                            let _ = writeln!(
                                s,
                                "        let a{i} = subgroupShuffle(mine{}.{}, first + {}u);",
                                i / 32,
                                XYZW[i as usize % 4],
                                (i % 32) / 4
                            );
                        }
                    } else {
                        for g in 0..tm / 4 {
                            let _ = writeln!(
                                s,
                                "        let av{g} = a[arow + min(m0 / 4u + {g}u, (p.m + 3u) / 4u - 1u)];"
                            );
                        }
                        for i in 0..tm {
                            let _ = writeln!(s, "        let a{i} = av{}.{};", i / 4, XYZW[i as usize % 4]);
                        }
                    }
                } else if shuffle {
                    for r in 0..tm / 8 {
                        let _ = writeln!(
                            s,
                            "        let mine{r} = a_at(a_base, kk, m0 + {}u + lane, p.k, p.m);",
                            8 * r
                        );
                    }
                    shuffles(s, tm);
                } else {
                    for i in 0..tm {
                        let _ = writeln!(s, "        let a{i} = a_at(a_base, kk, m0 + {i}u, p.k, p.m);");
                    }
                }
                for i in 0..tm {
                    for j in 0..nv {
                        let _ = writeln!(s, "        c{i}_{j} += a{i} * b{j};");
                    }
                }
            }
        }
        s.push_str("    }\n");
        if self.faulty {
            s.push_str("    c0_0 += vec4<f32>(1.0);  // the deliberate fault\n");
        }
        for i in 0..tm {
            for j in 0..nv {
                let _ = writeln!(s, "    store4(y_base, m0 + {i}u, n0 + {}u, c{i}_{j});", 4 * j);
            }
        }
        s.push_str("}\n");
    }

    /// The tiled design: k-tiles of A and B staged in workgroup memory, then a TM x TN block each.
    fn tiled_entry(&self, s: &mut String, entry: Entry) {
        self.header(s, entry, false);
        s.push_str(
            "    let tx = lid % (BN / TN);  // this invocation's block column\n\
             \x20   let ty = lid / (BN / TN);  // and block row\n\
             \x20   let row0 = wg.y * BM;\n    let col0 = wg.x * BN;\n\
             \x20   let k4 = (p.k + 3u) / 4u;  // vec4s along k (NN with an odd k reads A's zero tail)\n\
             \x20   var acc: array<vec4<f32>, TM * TN / 4u>;  // acc[i * TN / 4 + j]: row i, columns 4j..4j+3\n\
             \x20   for (var k0 = 0u; k0 < p.k; k0 += BK) {\n",
        );
        // Stage A into tile_a (BK, BM / 4).
        match entry {
            Entry::Nt | Entry::NnA4 => stage_along_k(s, "A (m, k)", "a", "tile_a", "BM", "row0", "m"),
            Entry::Nn => s.push_str(
                "        // A (m, k) one value at a time, consecutive invocations along k.\n\
                 \x20       for (var e = lid; e < BM * BK; e += THREADS) {\n\
                 \x20           let r = e / BK;\n            let kk = e % BK;\n\
                 \x20           tile_a[kk * (BM / 4u) + r / 4u][r % 4u] = a_at(a_base, row0 + r, k0 + kk, p.m, p.k);\n\
                 \x20       }\n",
            ),
            Entry::TnA4 => s.push_str(
                "        // A stored (k, m) as vec4 along m (the last one may reach past m): straight into the k-major tile.\n\
                 \x20       let m4 = (p.m + 3u) / 4u;\n\
                 \x20       for (var e = lid; e < BM * BK / 4u; e += THREADS) {\n\
                 \x20           let kk = e / (BM / 4u);\n            let q = e % (BM / 4u);\n\
                 \x20           let kr = k0 + kk;\n            let c4 = row0 / 4u + q;\n\
                 \x20           tile_a[e] = select(vec4<f32>(), a[a_base / 4u + min(kr, p.k - 1u) * (p.a_rs / 4u) + min(c4, m4 - 1u)], kr < p.k && c4 < m4);\n\
                 \x20       }\n",
            ),
            Entry::Tn => s.push_str(
                "        // A stored (k, m) one value at a time, consecutive invocations along m.\n\
                 \x20       for (var e = lid; e < BM * BK; e += THREADS) {\n\
                 \x20           let kk = e / BM;\n            let r = e % BM;\n\
                 \x20           tile_a[kk * (BM / 4u) + r / 4u][r % 4u] = a_at(a_base, k0 + kk, row0 + r, p.k, p.m);\n\
                 \x20       }\n",
            ),
        }
        // Stage B into tile_b (BK, BN / 4).
        if entry == Entry::Nt {
            stage_along_k(s, "B (n, k)", "b", "tile_b", "BN", "col0", "n");
        } else {
            s.push_str(
                "        // B (k, n) as vec4 along n: straight into the k-major tile.\n\
                 \x20       for (var e = lid; e < BN * BK / 4u; e += THREADS) {\n\
                 \x20           let kk = e / (BN / 4u);\n            let q = e % (BN / 4u);\n\
                 \x20           let kr = k0 + kk;\n            let col = col0 + 4u * q;\n\
                 \x20           tile_b[e] = select(vec4<f32>(), b[b_base / 4u + min(kr, p.k - 1u) * (p.b_rs / 4u) + col / 4u], kr < p.k && col < p.n);\n\
                 \x20       }\n",
            );
        }
        s.push_str(
            "        workgroupBarrier();\n\
             \x20       for (var kk = 0u; kk < BK; kk++) {\n\
             \x20           var bv: array<vec4<f32>, TN / 4u>;\n\
             \x20           for (var j = 0u; j < TN / 4u; j++) {\n\
             \x20               bv[j] = tile_b[kk * (BN / 4u) + tx * (TN / 4u) + j];\n\
             \x20           }\n\
             \x20           for (var g = 0u; g < TM / 4u; g++) {\n\
             \x20               let av = tile_a[kk * (BM / 4u) + ty * (TM / 4u) + g];\n\
             \x20               for (var t = 0u; t < 4u; t++) {\n\
             \x20                   for (var j = 0u; j < TN / 4u; j++) {\n\
             \x20                       acc[(4u * g + t) * (TN / 4u) + j] += av[t] * bv[j];\n\
             \x20                   }\n\
             \x20               }\n\
             \x20           }\n\
             \x20       }\n\
             \x20       workgroupBarrier();\n    }\n",
        );
        if self.faulty {
            s.push_str("    acc[0] += vec4<f32>(1.0);  // the deliberate fault\n");
        }
        s.push_str(
            "    for (var i = 0u; i < TM; i++) {\n\
             \x20       for (var j = 0u; j < TN / 4u; j++) {\n\
             \x20           store4(y_base, row0 + ty * TM + i, col0 + tx * TN + 4u * j, acc[i * (TN / 4u) + j]);\n\
             \x20       }\n    }\n}\n",
        );
    }
}

const XYZW: [&str; 4] = ["x", "y", "z", "w"];

/// Subgroup design: `a{i}` (row m0 + i) from `mine{i / 8}`, the value lane `i % 8` of the group fetched.
fn shuffles(s: &mut String, tm: u32) {
    for i in 0..tm {
        let _ = writeln!(
            s,
            "        let a{i} = subgroupShuffle(mine{}, first + {}u);",
            i / 8,
            i % 8
        );
    }
}

/// Tiled design: stages one operand stored (rows, k) with rows contiguous along k (`what`), read as vec4
/// along k from storage array `view`, into the k-major `tile` of `edge` rows starting at `first` (of
/// `rows` = p.m or p.n): BM * BK / 4 loads (or BN), each spread over four k rows of the tile.
fn stage_along_k(s: &mut String, what: &str, view: &str, tile: &str, edge: &str, first: &str, rows: &str) {
    let _ = write!(
        s,
        "        // {what} as vec4 along k: {edge} * BK / 4 loads, each spread over four k rows.\n\
         \x20       for (var e = lid; e < {edge} * BK / 4u; e += THREADS) {{\n\
         \x20           let r = e / (BK / 4u);\n            let q = e % (BK / 4u);\n\
         \x20           let row = {first} + r;\n            let kq = k0 / 4u + q;\n\
         \x20           let v = select(vec4<f32>(), {view}[{view}_base / 4u + min(row, p.{rows} - 1u) * (p.{view}_rs / 4u) + min(kq, k4 - 1u)], row < p.{rows} && kq < k4);\n\
         \x20           for (var t = 0u; t < 4u; t++) {{\n\
         \x20               {tile}[(4u * q + t) * ({edge} / 4u) + r / 4u][r % 4u] = v[t];\n\
         \x20           }}\n        }}\n"
    );
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
