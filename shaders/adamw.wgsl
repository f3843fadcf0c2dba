// AdamW with global gradient-norm clipping, entirely on the GPU (no host round trip):
//   adamw_sumsq      PARTS partial sums of squares of one gradient tensor into its slot of `partials`
//   adamw_clip_scale one workgroup sums every slot's partials: [global norm, clip scale]
//   adamw_update     the update of one tensor with its gradient times the clip scale; then grad = 0
// Every sum runs in a fixed order (grid-stride loops, then a tree in workgroup memory): deterministic.

const PARTS: u32 = 64u; // workgroups of adamw_sumsq = partial sums per tensor (ops::adamw::PARTS)
// WG, red_val and reduce_sum: reduce.wgsl.

// ---- adamw_sumsq ----
struct SumsqParams {
    n: u32,      // elements of grad
    offset: u32, // slot * PARTS
}

@group(0) @binding(0) var<uniform> ps: SumsqParams;
@group(0) @binding(1) var<storage, read> sumsq_grad: array<f32>;        // (n)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;    // (slots * PARTS)

// PARTS workgroups of 64 invocations striding over the tensor.
@compute @workgroup_size(64)
fn adamw_sumsq(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    var s = 0.0;
    for (var i = wid.x * WG + lid; i < ps.n; i += PARTS * WG) {
        let g = sumsq_grad[i];
        s += g * g;
    }
    let total = reduce_sum(lid, s);
    if lid == 0u {
        partials[ps.offset + wid.x] = total;
    }
}

// ---- adamw_clip_scale ----
struct ClipParams {
    count: u32,     // slots * PARTS
    max_norm: f32,  // clip the global norm to this (infinity: never)
}

@group(0) @binding(0) var<uniform> pc: ClipParams;
@group(0) @binding(1) var<storage, read> clip_partials: array<f32>;     // (slots * PARTS)
@group(0) @binding(2) var<storage, read_write> clip_out: array<f32>;    // (2) [norm, scale]

// One workgroup: norm = sqrt(sum of all partials), scale = min(1, max_norm / (norm + 1e-6)) as
// torch.nn.utils.clip_grad_norm_.
@compute @workgroup_size(64)
fn adamw_clip_scale(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < pc.count; i += WG) {
        s += clip_partials[i];
    }
    let norm = sqrt(reduce_sum(lid, s));
    if lid == 0u {
        clip_out[0] = norm;
        clip_out[1] = min(1.0, pc.max_norm / (norm + 1e-6));
    }
}

// ---- adamw_update ----
const VARIANT_TORCH: u32 = 0u;  // torch.optim.AdamW: decoupled decay, bias-corrected moments
const VARIANT_GOOGLE: u32 = 1u; // BERT's AdamWeightDecay: no bias correction, decay inside the update

struct UpdateParams {
    n: u32,
    variant: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay: f32,      // Torch: 1 - lr * weight_decay
    step_size: f32,  // Torch: lr / (1 - beta1^step)
    bc2_sqrt: f32,   // Torch: sqrt(1 - beta2^step)
}

@group(0) @binding(0) var<uniform> pu: UpdateParams;
@group(0) @binding(1) var<storage, read> clip: array<f32>;              // (2) [norm, scale]
@group(0) @binding(2) var<storage, read_write> param: array<f32>;       // (n)
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;        // (n), zeroed after use
@group(0) @binding(4) var<storage, read_write> m: array<f32>;           // (n) first moment
@group(0) @binding(5) var<storage, read_write> v: array<f32>;           // (n) second moment

@compute @workgroup_size(64)
fn adamw_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = grid_index(gid, nwg);
    if i >= pu.n { return; }
    let g = grad[i] * clip[1];
    var w = param[i];
    var mi = m[i];
    var vi = v[i];
    if pu.variant == VARIANT_TORCH {
        // as torch's single-tensor AdamW: mul_, lerp_, mul_ + addcmul_, addcdiv_
        w *= pu.decay;
        mi += (1.0 - pu.beta1) * (g - mi);
        vi = vi * pu.beta2 + (1.0 - pu.beta2) * g * g;
        w -= pu.step_size * (mi / (sqrt(vi) / pu.bc2_sqrt + pu.eps));
    } else {
        // as BERT's optimization.py
        mi = pu.beta1 * mi + (1.0 - pu.beta1) * g;
        vi = pu.beta2 * vi + (1.0 - pu.beta2) * g * g;
        w -= pu.lr * (mi / (sqrt(vi) + pu.eps) + pu.weight_decay * w);
    }
    param[i] = w;
    m[i] = mi;
    v[i] = vi;
    grad[i] = 0.0;
}
