// Matrix products in the three forms forward and backward need, without a transpose pass (DESIGN.md section 4).
// Subgroup variant (adapters with subgroups of 8 or more lanes); same bindings as matmul.wgsl.

// Sizes, bindings and epilogue: matmul_common.wgsl.

// NT: Y[z] = act(alpha * A[z] . B[z]^T + bias), A (m, k) and B (n, k) rows contiguous along k (k, offsets
// and strides multiples of 4): PyTorch's Linear (B is the (out, in) weight) and attention's Q.K^T.
// A 64-invocation workgroup computes a 64 x 64 tile of Y; each invocation 8 rows x 8 columns.
@compute @workgroup_size(64)
fn matmul_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
    let zo = wg.z / p.batch_inner;
    let zi = wg.z % p.batch_inner;
    let a_base = p.a_off + zo * p.a_so + zi * p.a_si;  // in f32
    let b_base = p.b_off + zo * p.b_so + zi * p.b_si;  // in f32
    let y_base = p.y_off + zo * p.y_so + zi * p.y_si;  // in f32
    // Eight consecutive lanes share the same 8 rows of Y: lane i fetches what row m0 + i needs and the
    // others read it through subgroupShuffle, so each A value is fetched once per group, not eight times.
    let lane = sid % 8u;
    let first = sid - lane;
    let m0 = wg.y * 64u + (lid / 8u) * 8u;  // the group's 8 rows of Y
    let n0 = wg.x * 64u + lane * 8u;        // this invocation's 8 columns
    let a4 = a_base / 4u;
    let b4 = b_base / 4u;
    let a_rs = p.a_rs / 4u;
    let b_rs = p.b_rs / 4u;
    let my_row = a4 + min(m0 + lane, p.m - 1u) * a_rs;
    let rb0 = b4 + min(n0 + 0u, p.n - 1u) * b_rs;
    let rb1 = b4 + min(n0 + 1u, p.n - 1u) * b_rs;
    let rb2 = b4 + min(n0 + 2u, p.n - 1u) * b_rs;
    let rb3 = b4 + min(n0 + 3u, p.n - 1u) * b_rs;
    let rb4 = b4 + min(n0 + 4u, p.n - 1u) * b_rs;
    let rb5 = b4 + min(n0 + 5u, p.n - 1u) * b_rs;
    let rb6 = b4 + min(n0 + 6u, p.n - 1u) * b_rs;
    let rb7 = b4 + min(n0 + 7u, p.n - 1u) * b_rs;
    var c00 = vec4<f32>(); var c01 = vec4<f32>();
    var c10 = vec4<f32>(); var c11 = vec4<f32>();
    var c20 = vec4<f32>(); var c21 = vec4<f32>();
    var c30 = vec4<f32>(); var c31 = vec4<f32>();
    var c40 = vec4<f32>(); var c41 = vec4<f32>();
    var c50 = vec4<f32>(); var c51 = vec4<f32>();
    var c60 = vec4<f32>(); var c61 = vec4<f32>();
    var c70 = vec4<f32>(); var c71 = vec4<f32>();
    for (var kk = 0u; kk < p.k / 4u; kk++) {
        let mine = a[my_row + kk];
        let a0 = subgroupShuffle(mine, first + 0u);
        let a1 = subgroupShuffle(mine, first + 1u);
        let a2 = subgroupShuffle(mine, first + 2u);
        let a3 = subgroupShuffle(mine, first + 3u);
        let a4 = subgroupShuffle(mine, first + 4u);
        let a5 = subgroupShuffle(mine, first + 5u);
        let a6 = subgroupShuffle(mine, first + 6u);
        let a7 = subgroupShuffle(mine, first + 7u);
        let b0 = b[rb0 + kk];
        let b1 = b[rb1 + kk];
        let b2 = b[rb2 + kk];
        let b3 = b[rb3 + kk];
        let b4 = b[rb4 + kk];
        let b5 = b[rb5 + kk];
        let b6 = b[rb6 + kk];
        let b7 = b[rb7 + kk];
        c00 += dots4(a0, b0, b1, b2, b3);
        c01 += dots4(a0, b4, b5, b6, b7);
        c10 += dots4(a1, b0, b1, b2, b3);
        c11 += dots4(a1, b4, b5, b6, b7);
        c20 += dots4(a2, b0, b1, b2, b3);
        c21 += dots4(a2, b4, b5, b6, b7);
        c30 += dots4(a3, b0, b1, b2, b3);
        c31 += dots4(a3, b4, b5, b6, b7);
        c40 += dots4(a4, b0, b1, b2, b3);
        c41 += dots4(a4, b4, b5, b6, b7);
        c50 += dots4(a5, b0, b1, b2, b3);
        c51 += dots4(a5, b4, b5, b6, b7);
        c60 += dots4(a6, b0, b1, b2, b3);
        c61 += dots4(a6, b4, b5, b6, b7);
        c70 += dots4(a7, b0, b1, b2, b3);
        c71 += dots4(a7, b4, b5, b6, b7);
    }
    store_row(y_base, m0 + 0u, n0, c00, c01);
    store_row(y_base, m0 + 1u, n0, c10, c11);
    store_row(y_base, m0 + 2u, n0, c20, c21);
    store_row(y_base, m0 + 3u, n0, c30, c31);
    store_row(y_base, m0 + 4u, n0, c40, c41);
    store_row(y_base, m0 + 5u, n0, c50, c51);
    store_row(y_base, m0 + 6u, n0, c60, c61);
    store_row(y_base, m0 + 7u, n0, c70, c71);
}

// NN: Y[z] = act(alpha * A[z] . B[z] + bias), A (m, k) any stride, B (k, n) rows contiguous along n (n,
// offsets and strides multiples of 4): attention's P.V and the input gradient dX = dY.W.
@compute @workgroup_size(64)
fn matmul_nn_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
    let zo = wg.z / p.batch_inner;
    let zi = wg.z % p.batch_inner;
    let a_base = p.a_off + zo * p.a_so + zi * p.a_si;  // in f32
    let b_base = p.b_off + zo * p.b_so + zi * p.b_si;  // in f32
    let y_base = p.y_off + zo * p.y_so + zi * p.y_si;  // in f32
    // Eight consecutive lanes share the same 8 rows of Y: lane i fetches what row m0 + i needs and the
    // others read it through subgroupShuffle, so each A value is fetched once per group, not eight times.
    let lane = sid % 8u;
    let first = sid - lane;
    let m0 = wg.y * 64u + (lid / 8u) * 8u;  // the group's 8 rows of Y
    let n0 = wg.x * 64u + lane * 8u;        // this invocation's 8 columns
    let col = b_base / 4u + n0 / 4u;
    let b_rs = p.b_rs / 4u;
    var c00 = vec4<f32>(); var c01 = vec4<f32>();
    var c10 = vec4<f32>(); var c11 = vec4<f32>();
    var c20 = vec4<f32>(); var c21 = vec4<f32>();
    var c30 = vec4<f32>(); var c31 = vec4<f32>();
    var c40 = vec4<f32>(); var c41 = vec4<f32>();
    var c50 = vec4<f32>(); var c51 = vec4<f32>();
    var c60 = vec4<f32>(); var c61 = vec4<f32>();
    var c70 = vec4<f32>(); var c71 = vec4<f32>();
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        let mine = vec4<f32>(a_at(a_base, m0 + lane, k0, p.m, p.k), a_at(a_base, m0 + lane, k0 + 1u, p.m, p.k),
            a_at(a_base, m0 + lane, k0 + 2u, p.m, p.k), a_at(a_base, m0 + lane, k0 + 3u, p.m, p.k));
        let a0 = subgroupShuffle(mine, first + 0u);
        let a1 = subgroupShuffle(mine, first + 1u);
        let a2 = subgroupShuffle(mine, first + 2u);
        let a3 = subgroupShuffle(mine, first + 3u);
        let a4 = subgroupShuffle(mine, first + 4u);
        let a5 = subgroupShuffle(mine, first + 5u);
        let a6 = subgroupShuffle(mine, first + 6u);
        let a7 = subgroupShuffle(mine, first + 7u);
        let r0 = col + min(k0 + 0u, p.k - 1u) * b_rs;
        let lo0 = b[r0];
        let hi0 = b[r0 + 1u];
        let r1 = col + min(k0 + 1u, p.k - 1u) * b_rs;
        let lo1 = b[r1];
        let hi1 = b[r1 + 1u];
        let r2 = col + min(k0 + 2u, p.k - 1u) * b_rs;
        let lo2 = b[r2];
        let hi2 = b[r2 + 1u];
        let r3 = col + min(k0 + 3u, p.k - 1u) * b_rs;
        let lo3 = b[r3];
        let hi3 = b[r3 + 1u];
        c00 += a0.x * lo0 + a0.y * lo1 + a0.z * lo2 + a0.w * lo3;
        c01 += a0.x * hi0 + a0.y * hi1 + a0.z * hi2 + a0.w * hi3;
        c10 += a1.x * lo0 + a1.y * lo1 + a1.z * lo2 + a1.w * lo3;
        c11 += a1.x * hi0 + a1.y * hi1 + a1.z * hi2 + a1.w * hi3;
        c20 += a2.x * lo0 + a2.y * lo1 + a2.z * lo2 + a2.w * lo3;
        c21 += a2.x * hi0 + a2.y * hi1 + a2.z * hi2 + a2.w * hi3;
        c30 += a3.x * lo0 + a3.y * lo1 + a3.z * lo2 + a3.w * lo3;
        c31 += a3.x * hi0 + a3.y * hi1 + a3.z * hi2 + a3.w * hi3;
        c40 += a4.x * lo0 + a4.y * lo1 + a4.z * lo2 + a4.w * lo3;
        c41 += a4.x * hi0 + a4.y * hi1 + a4.z * hi2 + a4.w * hi3;
        c50 += a5.x * lo0 + a5.y * lo1 + a5.z * lo2 + a5.w * lo3;
        c51 += a5.x * hi0 + a5.y * hi1 + a5.z * hi2 + a5.w * hi3;
        c60 += a6.x * lo0 + a6.y * lo1 + a6.z * lo2 + a6.w * lo3;
        c61 += a6.x * hi0 + a6.y * hi1 + a6.z * hi2 + a6.w * hi3;
        c70 += a7.x * lo0 + a7.y * lo1 + a7.z * lo2 + a7.w * lo3;
        c71 += a7.x * hi0 + a7.y * hi1 + a7.z * hi2 + a7.w * hi3;
    }
    store_row(y_base, m0 + 0u, n0, c00, c01);
    store_row(y_base, m0 + 1u, n0, c10, c11);
    store_row(y_base, m0 + 2u, n0, c20, c21);
    store_row(y_base, m0 + 3u, n0, c30, c31);
    store_row(y_base, m0 + 4u, n0, c40, c41);
    store_row(y_base, m0 + 5u, n0, c50, c51);
    store_row(y_base, m0 + 6u, n0, c60, c61);
    store_row(y_base, m0 + 7u, n0, c70, c71);
}

// TN: Y[z] = act(alpha * A[z]^T . B[z] + bias), A stored (k, m) any stride, B (k, n) rows contiguous
// along n: the weight gradient dW (+)= dY^T.X summed over all tokens, and attention's dV = P^T.dO.
@compute @workgroup_size(64)
fn matmul_tn_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
    let zo = wg.z / p.batch_inner;
    let zi = wg.z % p.batch_inner;
    let a_base = p.a_off + zo * p.a_so + zi * p.a_si;  // in f32
    let b_base = p.b_off + zo * p.b_so + zi * p.b_si;  // in f32
    let y_base = p.y_off + zo * p.y_so + zi * p.y_si;  // in f32
    // Eight consecutive lanes share the same 8 rows of Y: lane i fetches what row m0 + i needs and the
    // others read it through subgroupShuffle, so each A value is fetched once per group, not eight times.
    let lane = sid % 8u;
    let first = sid - lane;
    let m0 = wg.y * 64u + (lid / 8u) * 8u;  // the group's 8 rows of Y
    let n0 = wg.x * 64u + lane * 8u;        // this invocation's 8 columns
    let col = b_base / 4u + n0 / 4u;
    let b_rs = p.b_rs / 4u;
    var c00 = vec4<f32>(); var c01 = vec4<f32>();
    var c10 = vec4<f32>(); var c11 = vec4<f32>();
    var c20 = vec4<f32>(); var c21 = vec4<f32>();
    var c30 = vec4<f32>(); var c31 = vec4<f32>();
    var c40 = vec4<f32>(); var c41 = vec4<f32>();
    var c50 = vec4<f32>(); var c51 = vec4<f32>();
    var c60 = vec4<f32>(); var c61 = vec4<f32>();
    var c70 = vec4<f32>(); var c71 = vec4<f32>();
    for (var kk = 0u; kk < p.k; kk++) {
        let brow = col + kk * b_rs;
        let lo = b[brow];
        let hi = b[brow + 1u];
        let mine = a_at(a_base, kk, m0 + lane, p.k, p.m);
        let a0 = subgroupShuffle(mine, first + 0u);
        let a1 = subgroupShuffle(mine, first + 1u);
        let a2 = subgroupShuffle(mine, first + 2u);
        let a3 = subgroupShuffle(mine, first + 3u);
        let a4 = subgroupShuffle(mine, first + 4u);
        let a5 = subgroupShuffle(mine, first + 5u);
        let a6 = subgroupShuffle(mine, first + 6u);
        let a7 = subgroupShuffle(mine, first + 7u);
        c00 += a0 * lo;
        c01 += a0 * hi;
        c10 += a1 * lo;
        c11 += a1 * hi;
        c20 += a2 * lo;
        c21 += a2 * hi;
        c30 += a3 * lo;
        c31 += a3 * hi;
        c40 += a4 * lo;
        c41 += a4 * hi;
        c50 += a5 * lo;
        c51 += a5 * hi;
        c60 += a6 * lo;
        c61 += a6 * hi;
        c70 += a7 * lo;
        c71 += a7 * hi;
    }
    store_row(y_base, m0 + 0u, n0, c00, c01);
    store_row(y_base, m0 + 1u, n0, c10, c11);
    store_row(y_base, m0 + 2u, n0, c20, c21);
    store_row(y_base, m0 + 3u, n0, c30, c31);
    store_row(y_base, m0 + 4u, n0, c40, c41);
    store_row(y_base, m0 + 5u, n0, c50, c51);
    store_row(y_base, m0 + 6u, n0, c60, c61);
    store_row(y_base, m0 + 7u, n0, c70, c71);
}
