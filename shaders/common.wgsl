// Shared helpers, prepended to every shader file.

// The index of this invocation in a 1-D grid of 64-wide workgroups spread over x and y when it has more
// than 65535 of them (ops::grid_1d on the host).
fn grid_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// Activations selected by a uniform field (`act`): the names of Hugging Face's `hidden_act`.
const ACT_NONE: u32 = 0u;
const ACT_GELU: u32 = 1u;       // "gelu": x * Phi(x), exact (erf)
const ACT_GELU_TANH: u32 = 2u;  // "gelu_new", "gelu_pytorch_tanh": tanh approximation
const ACT_TANH: u32 = 3u;       // pooler
const ACT_RELU: u32 = 4u;

// erf(x) through the Chebyshev fit of erfc in Numerical Recipes (fractional error below 1.2e-7),
// close to f32 rounding, which is what GELU's use needs.
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(r - 1.0, 1.0 - r, x >= 0.0);
}

fn gelu_erf(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752));
}

// tanh that does not overflow for large |x| (exp(2x) = inf gives NaN in the naive form).
fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

fn gelu_tanh(x: f32) -> f32 {
    let inner = 0.79788456080286536 * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + tanh_safe(inner));
}

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return gelu_erf(x); }
        case 2u: { return gelu_tanh(x); }
        case 3u: { return tanh_safe(x); }
        case 4u: { return max(x, 0.0); }
        default: { return x; }
    }
}

// d/dx activate(x, act), from the pre-activation x (the backward of `activate`).
fn activate_grad(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: {
            // d/dx x * Phi(x) = Phi(x) + x * phi(x)
            let cdf = 0.5 * (1.0 + erf_f32(x * 0.70710678118654752));
            return cdf + x * 0.39894228040143268 * exp(-0.5 * x * x);
        }
        case 2u: {
            // u = k (x + 0.044715 x^3): d/dx 0.5 x (1 + tanh u) = 0.5 (1 + tanh u) + 0.5 x sech^2(u) k (1 + 3 * 0.044715 x^2),
            // with e = exp(-2|u|): 0.5 (1 + tanh u) = 1 / (1 + e) or e / (1 + e), sech^2 u = 4 e / (1 + e)^2
            // (no cancellation in 1 - tanh^2 or 1 + tanh).
            let k = 0.79788456080286536;
            let u = k * (x + 0.044715 * x * x * x);
            let e = exp(-2.0 * abs(u));
            let half_one_plus_t = select(1.0, e, u < 0.0) / (1.0 + e);
            let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
            return half_one_plus_t + 0.5 * x * sech2 * k * (1.0 + 0.134145 * x * x);
        }
        case 3u: {
            let e = exp(-2.0 * abs(x));
            return 4.0 * e / ((1.0 + e) * (1.0 + e)); // sech^2 x = 1 - tanh^2 x
        }
        case 4u: { return select(0.0, 1.0, x > 0.0); }
        default: { return 1.0; }
    }
}

// Counter-based random numbers (dropout): the PCG hash of Jarzynski & Olano, "Hash Functions for GPU
// Rendering" (JCGT 2020), a bijection on u32 with good avalanche, nested once per key. The same function
// runs on the host (ops::dropout::pcg_hash) so a run's masks are reproducible from its seed.
fn pcg_hash(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A uniform u32 for element `index` of dropout site `stream` under the step's `seed`.
fn rng_hash(seed: u32, stream: u32, index: u32) -> u32 {
    return pcg_hash(index + pcg_hash(stream + pcg_hash(seed)));
}
