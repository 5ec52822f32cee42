// L2-regularised, sample-weighted logistic regression solved by L-BFGS.
// Minimises (1/Σs) Σ s_i·logloss(y_i, σ(w·x_i + b)) + (λ/2)‖w − w₀‖²; the bias is not
// penalised. w₀ (the prior) is 0 unless given: a cluster's head is pulled toward the tag's
// shared head instead of toward zero, so a cluster with few positives stays near it.
import { dot, dotFrom, sigmoid, type Vector } from './vectors';

export interface LogisticOptions {
  /** λ, the L2 penalty on the weights. */
  l2: number;
  maxIterations?: number;
  /** Stop when the largest gradient component falls below this. */
  tolerance?: number;
  /** Warm start (weights then bias), e.g. the solution for a nearby λ. */
  init?: LogisticModel;
  /** The weights the penalty pulls toward (default: zero). */
  prior?: ArrayLike<number>;
}

export interface LogisticModel {
  weights: Float64Array;
  bias: number;
}

export interface LogisticFit extends LogisticModel {
  iterations: number;
  loss: number;
}

export function fitLogistic(x: Vector[], y: ArrayLike<number>, sampleWeight: ArrayLike<number>, options: LogisticOptions): LogisticFit {
  const n = x.length;
  if (n === 0) throw new Error('fitLogistic: no samples');
  const d = x[0].length;
  const totalWeight = Array.from(sampleWeight).reduce((a, b) => a + b, 0);
  const { l2, prior } = options;
  if (prior && prior.length !== d) throw new Error(`fitLogistic: prior has ${prior.length} weights, not ${d}`);
  const maxIterations = options.maxIterations ?? 300;
  const tolerance = options.tolerance ?? 1e-6;
  const dim = d + 1; // parameters: weights then bias

  const margins = new Float64Array(n);
  const evaluate = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    const b = theta[d];
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      const z = b + dotFrom(theta, xi, 0, d);
      margins[i] = z;
      const s = sampleWeight[i] / totalWeight;
      // log(1 + e^z) - y·z, computed without overflow.
      loss += s * ((z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i] * z);
      const r = s * (sigmoid(z) - y[i]);
      if (r !== 0) {
        // Unrolled by four like dot(): fewer loop checks per multiply-add (each j is summed in the same order as before).
        let j = 0;
        for (const last = d - 3; j < last; j += 4) {
          grad[j] += r * xi[j];
          grad[j + 1] += r * xi[j + 1];
          grad[j + 2] += r * xi[j + 2];
          grad[j + 3] += r * xi[j + 3];
        }
        for (; j < d; j++) grad[j] += r * xi[j];
        grad[d] += r;
      }
    }
    let penalty = 0;
    for (let j = 0; j < d; j++) {
      const offset = prior ? theta[j] - prior[j] : theta[j];
      penalty += offset * offset;
      grad[j] += l2 * offset;
    }
    return loss + (l2 / 2) * penalty;
  };

  const theta = new Float64Array(dim);
  if (options.init) {
    theta.set(options.init.weights);
    theta[d] = options.init.bias;
  }
  const { value, iterations } = minimiseLbfgs(evaluate, theta, { maxIterations, tolerance });
  return { weights: theta.slice(0, d), bias: theta[d], iterations, loss: value };
}

export function predictLogistic(model: LogisticModel, x: Vector): number {
  return sigmoid(dot(model.weights, x) + model.bias);
}

/** Limited-memory BFGS with a backtracking (Armijo) line search; updates `theta` in place. */
export function minimiseLbfgs(
  f: (theta: Float64Array, grad: Float64Array) => number,
  theta: Float64Array,
  options: { maxIterations: number; tolerance: number; memory?: number },
): { value: number; iterations: number } {
  const dim = theta.length;
  const memory = options.memory ?? 8;
  const s: Float64Array[] = [];
  const yk: Float64Array[] = [];
  const rho: number[] = [];
  let grad = new Float64Array(dim);
  let value = f(theta, grad);
  const direction = new Float64Array(dim);
  const alpha = new Float64Array(memory);
  const nextTheta = new Float64Array(dim);
  let nextGrad = new Float64Array(dim);
  let iteration = 0;
  for (; iteration < options.maxIterations; iteration++) {
    if (maxAbs(grad) < options.tolerance) break;
    // Two-loop recursion: direction = -H·grad.
    direction.set(grad);
    for (let k = s.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(s[k], direction);
      for (let j = 0; j < dim; j++) direction[j] -= alpha[k] * yk[k][j];
    }
    const gamma =
      s.length > 0 ? dot(s[s.length - 1], yk[yk.length - 1]) / dot(yk[yk.length - 1], yk[yk.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(grad, grad)));
    for (let j = 0; j < dim; j++) direction[j] *= gamma;
    for (let k = 0; k < s.length; k++) {
      const beta = rho[k] * dot(yk[k], direction);
      for (let j = 0; j < dim; j++) direction[j] += s[k][j] * (alpha[k] - beta);
    }
    for (let j = 0; j < dim; j++) direction[j] = -direction[j];
    let slope = dot(grad, direction);
    if (slope >= 0) {
      // Not a descent direction (curvature information went stale): restart from steepest descent.
      s.length = 0;
      yk.length = 0;
      rho.length = 0;
      for (let j = 0; j < dim; j++) direction[j] = -grad[j];
      slope = -dot(grad, grad);
    }
    let step = 1;
    let nextValue = Number.POSITIVE_INFINITY;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < dim; j++) nextTheta[j] = theta[j] + step * direction[j];
      nextValue = f(nextTheta, nextGrad);
      if (nextValue <= value + 1e-4 * step * slope) break;
      step /= 2;
    }
    if (!(nextValue < value) && Math.abs(nextValue - value) > 1e-15) break; // no progress possible
    const sk = new Float64Array(dim);
    const ykNew = new Float64Array(dim);
    for (let j = 0; j < dim; j++) {
      sk[j] = nextTheta[j] - theta[j];
      ykNew[j] = nextGrad[j] - grad[j];
    }
    const sy = dot(sk, ykNew);
    if (sy > 1e-12) {
      s.push(sk);
      yk.push(ykNew);
      rho.push(1 / sy);
      if (s.length > memory) {
        s.shift();
        yk.shift();
        rho.shift();
      }
    }
    theta.set(nextTheta);
    const previous = value;
    value = nextValue;
    [grad, nextGrad] = [nextGrad, grad];
    if (Math.abs(previous - value) <= 1e-12 * Math.max(1, Math.abs(value))) {
      iteration++;
      break;
    }
  }
  return { value, iterations: iteration };
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}
