// Prepended to every generated matmul kernel (src/gpu/matmul_gen/): the sizes, the bindings and the
// epilogue of the three matrix-product forms.

struct MatmulParams {
    m: u32, n: u32, k: u32,  // Y is (m, n); the sum runs over k
    batch_inner: u32,        // batch index z = outer * batch_inner + inner (workgroup_id.z)
    // Offsets and strides in elements: row stride, outer and inner batch stride.
    a_off: u32, a_rs: u32, a_so: u32, a_si: u32,
    b_off: u32, b_rs: u32, b_so: u32, b_si: u32,
    y_off: u32, y_rs: u32, y_so: u32, y_si: u32,
    alpha: f32,       // Y = act(alpha * A.B + bias)
    act: u32,         // ACT_* from common.wgsl
    has_bias: u32,    // 1: add bias[n]
    accumulate: u32,  // 1: Y += result instead of Y = result
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
// A and B are bound twice: as vec4 (rows contiguous along a multiple-of-4 k or n) and as scalars (any
// stride). Each entry point uses one view of A.
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;   // NT, NN, TN: see each entry point
@group(0) @binding(1) var<storage, read> a_s: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;      // (n), read only when has_bias = 1
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (batch, m, n)

// Four dot products of one A row with four B rows: the NT inner step.
fn dots4(x: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(x, b0), dot(x, b1), dot(x, b2), dot(x, b3));
}

// Epilogue for four outputs of one row, columns [n0, n0 + 4): scale, bias, activation, store.
fn store4(y_base: u32, row: u32, n0: u32, v: vec4<f32>) {
    if row >= p.m { return; }
    for (var j = 0u; j < 4u; j++) {
        let col = n0 + j;
        if col < p.n {
            var r = p.alpha * v[j];
            if p.has_bias != 0u {
                r += bias[col];
            }
            r = activate(r, p.act);
            let idx = y_base + row * p.y_rs + col;
            if p.accumulate != 0u {
                y[idx] += r;
            } else {
                y[idx] = r;
            }
        }
    }
}

// A scalar of A at (row, col) of matrix z, zero outside [0, m) x [0, k).
fn a_at(base: u32, row: u32, col: u32, rows: u32, cols: u32) -> f32 {
    let v = a_s[base + min(row, rows - 1u) * p.a_rs + min(col, cols - 1u)];
    return select(0.0, v, row < rows && col < cols);
}
