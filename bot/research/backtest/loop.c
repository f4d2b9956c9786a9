/* The backtest's one compiled loop, in C99; pyloop.py is the same algorithm in plain Python.
 *
 * Both make the same float operations in the same order, and this file is compiled with -ffp-contract=off
 * and without fast-math, so they agree bit for bit (tests/backtest/test_loop_backends.py). Arrays are
 * C-contiguous numpy buffers; numpy bools are bytes. cloop.py compiles this file on first use and calls
 * it through ctypes with one struct of pointers (pb_args); the constants come in as -D flags from codes.py,
 * and the layouts of the parameter, state and summary rows are codes.py's too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef PAIRBOT_TIE
#error "PAIRBOT_TIE must be defined (cloop.py passes it)"
#endif
#ifndef PAIRBOT_WEIGHT_TIE
#error "PAIRBOT_WEIGHT_TIE must be defined (cloop.py passes it)"
#endif
#ifndef PAIRBOT_SPLIT_STEPS
#error "PAIRBOT_SPLIT_STEPS must be defined (cloop.py passes it)"
#endif

#define TIE PAIRBOT_TIE
#define WEIGHT_TIE PAIRBOT_WEIGHT_TIE
#define SPLIT_STEPS PAIRBOT_SPLIT_STEPS
#define INLINE static inline __attribute__((always_inline))
enum { OVER_NO = 0, OVER_YES = 1, OVER_TIE = 2 };
enum { NEED_NONE = 0, NEED_BREACH = 1, NEED_SHARES = 2 };
/* a parameter row (V, P_LEN): codes.py P_* */
enum { P_LEG, P_GROSS, P_NET, P_EFFECTIVE, P_COMMISSION, P_SLIPPAGE, P_BORROW, P_MIN_TRADE, P_RESERVE,
       P_FRACTIONAL, P_TARGET_ROW, P_DUE_ROW, P_LEN };
/* a state row (V, S_LEN + 2N): cash, flow, start, force_breach, has_force_q, need, need_equity, q, force_q */
enum { S_CASH, S_FLOW, S_START, S_FORCE_BREACH, S_HAS_FORCE_Q, S_NEED, S_NEED_EQUITY, S_LEN };
/* a summary row (V, M_LEN): tallies, counts, then the curve's statistics (curve_row) */
enum { M_TRADED, M_COSTS, M_BORROW, M_REBALANCES, M_DECISIONS, M_CURVE, C_LEN = 12, M_LEN = M_CURVE + C_LEN };
/* a recorded trade (K, 3 + 3N): row, session, commission, then shares, fill prices, paid prices */
enum { R_ROW, R_DAY, R_COMMISSION, R_LEN };

typedef struct {
    int64_t t_len, n, u_len, e_len, tt_len, n_rows, k_cap, next_open, record, stats;
    const double *close, *opens, *cash_return, *accrual_days, *multiples; /* (T, N), (T, N), (T,), (T,), (N, U) */
    const int64_t *split_day, *split_col; /* (E,), sorted by day */
    const double *split_ratio;
    const double *targets; /* (S, TT, N) */
    const uint8_t *due;    /* (F, T) */
    const double *params;  /* (V, P_LEN) */
    const int64_t *rows;   /* (n_rows,) */
    double *state;         /* (V, S_LEN + 2N) */
    double *equity;        /* (V, T) */
    double *summary;       /* (V, M_LEN) */
    double *trades;        /* (k_cap, R_LEN + 3N), when record */
    int64_t *n_trades;     /* (1,) */
    double *held;          /* (V, T, N) shares at each close, when record */
    double *exposure;      /* (V, 2, T) gross, net at each close, when record */
} pb_args;

/* numba's and Python's max(a, b) / min(a, b): b when b > a (b < a), else a. */
INLINE double max_nb(double a, double b) { return b > a ? b : a; }
INLINE double min_nb(double a, double b) { return b < a ? b : a; }

/* numpy's sum of a contiguous row (pairwise, eight accumulators from eight terms), so a row's sum here is
 * the sum numpy's a.sum(axis=1) gave the exposure table. */
static double row_sum(const double *a, int64_t n)
{
    if (n < 8) {
        double res = n > 0 ? a[0] : 0.0;
        for (int64_t i = 1; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        int64_t i;
        for (i = 0; i < 8; i++) r[i] = a[i];
        for (i = 8; i < n - (n % 8); i += 8) {
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        }
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return row_sum(a, half) + row_sum(a + half, n - half);
}

INLINE int leg_over_row(int64_t n, const double *q, const double *prices_t, const double *target_st,
                        double equity, double band)
{
    int tie = 0;
    double scale = 1.0 / equity; /* one division, not one per leg: an ulp or two, far inside WEIGHT_TIE */
    for (int64_t j = 0; j < n; j++) {
        double excess = fabs(q[j] * prices_t[j] * scale - target_st[j]) - band;
        if (q[j] != 0 && fabs(excess) <= WEIGHT_TIE) { /* an empty leg's weight is exactly 0: never a tie */
            tie = 1;
        } else if (excess > 0) {
            return OVER_YES;
        }
    }
    return tie ? OVER_TIE : OVER_NO;
}

/* One book measure against its band: over, not, or too close for floats (the driver asks Decimal). The
 * measure is a sum of weights, so unlike a leg it has no exact zero to trust: every near miss is a tie. */
INLINE int measure_over(double drift, double band)
{
    double excess = fabs(drift) - band;
    if (fabs(excess) <= WEIGHT_TIE) return OVER_TIE;
    return excess > 0 ? OVER_YES : OVER_NO;
}

static int book_over(int64_t n, int64_t u_len, const double *q, const double *prices_t, const double *target_st,
                     double equity, double gross_band, double net_band, double eff_band, const double *multiples)
{
    int tie = 0, over;
    if (gross_band < INFINITY) {
        double held = 0.0, wanted = 0.0;
        for (int64_t j = 0; j < n; j++) {
            held += fabs(q[j] * prices_t[j] / equity);
            wanted += fabs(target_st[j]);
        }
        over = measure_over(held - wanted, gross_band);
        if (over == OVER_YES) return OVER_YES;
        tie |= over == OVER_TIE;
    }
    if (net_band < INFINITY) {
        double net = 0.0;
        for (int64_t j = 0; j < n; j++) net += q[j] * prices_t[j] / equity - target_st[j];
        over = measure_over(net, net_band);
        if (over == OVER_YES) return OVER_YES;
        tie |= over == OVER_TIE;
    }
    if (eff_band < INFINITY) {
        for (int64_t u = 0; u < u_len; u++) {
            double eff = 0.0;
            for (int64_t j = 0; j < n; j++) eff += (q[j] * prices_t[j] / equity - target_st[j]) * multiples[j * u_len + u];
            over = measure_over(eff, eff_band);
            if (over == OVER_YES) return OVER_YES;
            tie |= over == OVER_TIE;
        }
    }
    return tie ? OVER_TIE : OVER_NO;
}

/* The planner's shares after a rebalance into out; 1 when a leg needs Decimal (then out is incomplete). */
static int decide_row(int64_t n, const double *held, const double *weights, double equity, const double *prices,
                      double min_trade, double reserve, int fractional, double *out)
{
    double investable = equity * (1.0 - reserve);
    for (int64_t j = 0; j < n; j++) {
        double h = held[j], w = weights[j], p = prices[j];
        double raw = w * investable / p;
        if ((raw != 0 && fabs(raw - rint(raw)) <= TIE * max_nb(1.0, fabs(raw))) || (fractional && w > 0)) {
            return 1;
        }
        double target = trunc(raw);
        double delta = target - h;
        if (delta != 0 && target != 0) {
            double notional = fabs(delta) * p;
            if (fabs(notional - min_trade) <= TIE * max_nb(1.0, min_trade)) {
                return 1;
            }
            if (notional < min_trade) {
                if (h != 0 && (h > 0) != (target > 0)) {
                    target = 0.0;
                } else if (!(h < 0 && h != trunc(h))) { /* a split's fractional short goes whole at any size */
                    target = h;
                }
            }
        }
        out[j] = target;
    }
    return 0;
}

/* One curve's statistics into out[0..C_LEN): mean equity, mean and sample sd of daily returns, mean and sample
 * sd of returns over cash, downside deviation (rms of negative excess), max drawdown, the first and last
 * equity, then where the deepest drawdown peaked, bottomed and recovered (-1: never), as
 * metrics.worst_drawdown finds them: the first lowest point, the first highest point before it, the first
 * session back at that peak. r is scratch of t_len - 1. */
static void curve_row(int64_t t_len, const double *e, const double *cash_return, double *r, double *out)
{
    int64_t m = t_len - 1;
    double total = e[0];
    double r_sum = 0.0, x_sum = 0.0;
    double peak = e[0];
    double worst = 0.0;
    int64_t peak_at = 0, trough = 0, trough_peak = 0;
    for (int64_t t = 1; t < t_len; t++) {
        total += e[t];
        r[t - 1] = e[t] / e[t - 1] - 1.0;
        r_sum += r[t - 1];
        x_sum += r[t - 1] - cash_return[t];
        if (e[t] > peak) { /* max_nb(peak, e[t]), and where */
            peak = e[t];
            peak_at = t;
        }
        double dd = e[t] / peak - 1.0;
        if (dd < worst) { /* min_nb(worst, dd), and where */
            worst = dd;
            trough = t;
            trough_peak = peak_at;
        }
    }
    double r_mean = m > 0 ? r_sum / (double)m : NAN;
    double x_mean = m > 0 ? x_sum / (double)m : NAN;
    double r_sq = 0.0, x_sq = 0.0, down = 0.0;
    for (int64_t t = 1; t < t_len; t++) {
        double x = r[t - 1] - cash_return[t];
        double dr = r[t - 1] - r_mean, dx = x - x_mean;
        r_sq += dr * dr;
        x_sq += dx * dx;
        /* down += x * x when x < 0, without a branch: the sign of a day's return is a coin toss the
         * predictor loses half the time. x or +0.0 by a bit mask; adding +0.0 leaves down as it is. */
        uint64_t bits;
        memcpy(&bits, &x, sizeof bits);
        bits &= -(uint64_t)(x < 0);
        double loss;
        memcpy(&loss, &bits, sizeof loss);
        down += loss * loss;
    }
    int64_t recovery = -1;
    if (worst < 0) {
        for (int64_t t = trough; t < t_len; t++) {
            if (e[t] >= e[trough_peak]) {
                recovery = t;
                break;
            }
        }
    }
    out[0] = total / (double)t_len;
    out[1] = r_mean;
    out[2] = m > 1 ? sqrt(r_sq / (double)(m - 1)) : NAN;
    out[3] = x_mean;
    out[4] = m > 1 ? sqrt(x_sq / (double)(m - 1)) : NAN;
    out[5] = m > 0 ? sqrt(down / (double)m) : NAN;
    out[6] = worst;
    out[7] = e[0];
    out[8] = e[t_len - 1];
    out[9] = (double)trough_peak;
    out[10] = (double)trough;
    out[11] = (double)recovery;
}

/* Shares at close t into held[t], and gross and net exposure (fractions of equity) into gross[t], net[t]. */
static void mark_book(int64_t n, int64_t t, const double *q, const double *close_t, double equity, double *held,
                      double *gross, double *net, double *scratch)
{
    for (int64_t j = 0; j < n; j++) {
        held[t * n + j] = q[j];
        scratch[j] = fabs(q[j] * close_t[j]);
    }
    gross[t] = row_sum(scratch, n) / equity;
    for (int64_t j = 0; j < n; j++) scratch[j] = q[j] * close_t[j];
    net[t] = row_sum(scratch, n) / equity;
}

/* Run each variant in rows from its start to the last session, or until it needs a Decimal answer.
 * Returns 0; -1 when scratch cannot be allocated; -2 when a trade would be recorded past k_cap. */
int pb_run(const pb_args *a)
{
    const int64_t t_len = a->t_len, n = a->n, u_len = a->u_len, e_len = a->e_len, tt_len = a->tt_len;
    const int64_t width = S_LEN + 2 * n, rec_width = R_LEN + 3 * n;
    const int per_session = tt_len > 1, next_open = a->next_open != 0, record = a->record != 0;
    const double *restrict close = a->close;
    const double *restrict cash_return = a->cash_return;
    const double *restrict accrual_days = a->accrual_days;
    double *scratch = malloc((size_t)(3 * n + t_len + 1) * sizeof(double));
    if (scratch == NULL) return -1;
    double *new_q = scratch, *zeros = scratch + n, *values = scratch + 2 * n, *r = scratch + 3 * n;
    for (int64_t j = 0; j < n; j++) zeros[j] = 0.0;
    for (int64_t i = 0; i < a->n_rows; i++) {
        const int64_t v = a->rows[i];
        const double *restrict p = a->params + v * P_LEN;
        double *restrict st = a->state + v * width;
        double *restrict qv = st + S_LEN;
        const double *force_q = st + S_LEN + n;
        double *restrict eq = a->equity + v * t_len;
        double *sm = a->summary + v * M_LEN;
        double *held = record ? a->held + v * t_len * n : NULL;
        double *gross = record ? a->exposure + v * 2 * t_len : NULL, *net = record ? gross + t_len : NULL;
        st[S_NEED] = NEED_NONE;
        double c = st[S_CASH], fl = st[S_FLOW];
        const int64_t s = (int64_t)p[P_TARGET_ROW];
        const uint8_t *restrict due = a->due + (int64_t)p[P_DUE_ROW] * t_len;
        const double leg_b = p[P_LEG], gross_b = p[P_GROSS], net_b = p[P_NET], eff_b = p[P_EFFECTIVE];
        const int book_banded = gross_b < INFINITY || net_b < INFINITY || eff_b < INFINITY;
        const int leg_banded = leg_b < INFINITY;
        const double commission = p[P_COMMISSION] * 1e-4, slip = p[P_SLIPPAGE] * 1e-4, borrow = p[P_BORROW] * 1e-4;
        const double min_trade = p[P_MIN_TRADE], reserve = p[P_RESERVE];
        const int fractional = p[P_FRACTIONAL] != 0;
        const int64_t first = (int64_t)st[S_START];
        double traded_sum = sm[M_TRADED], costs_sum = sm[M_COSTS];
        int64_t rebalances = (int64_t)sm[M_REBALANCES], decisions = (int64_t)sm[M_DECISIONS];
        double borrowed = 0.0;
        int stopped = 0;
        int64_t e_split = 0;
        while (e_split < e_len && a->split_day[e_split] <= first) e_split++;
        for (int64_t t = first; t < t_len; t++) {
            const double *close_t = close + t * n;
            double c_before = c, fl_before = fl;
            double fee = 0.0;
            if (t > 0) {
                if (borrow != 0) { /* at zero borrow the fee is +0.0 whatever is short */
                    double short_value = 0.0;
                    for (int64_t j = 0; j < n; j++) {
                        if (qv[j] < 0) short_value -= qv[j] * close_t[j];
                    }
                    fee = borrow * short_value * accrual_days[t] / 360.0;
                }
                borrowed += fee;
                c = c * (1.0 + cash_return[t]) + fl - fee;
                fl = 0.0;
            }
            double e = c;
            for (int64_t j = 0; j < n; j++) e += qv[j] * close_t[j];
            const int64_t tt = per_session ? t : 0;
            const double *target_st = a->targets + (s * tt_len + tt) * n;
            int act = due[t] || !(e > 0);
            if (!act) {
                if (t == first && st[S_FORCE_BREACH] >= 0) {
                    act = st[S_FORCE_BREACH] == 1;
                } else {
                    int book = book_banded ? book_over(n, u_len, qv, close_t, target_st, e, gross_b, net_b, eff_b,
                                                       a->multiples) : OVER_NO;
                    int leg = book != OVER_YES && leg_banded ? leg_over_row(n, qv, close_t, target_st, e, leg_b)
                                                             : OVER_NO;
                    act = book == OVER_YES || leg == OVER_YES;
                    if (!act && (book == OVER_TIE || leg == OVER_TIE)) {
                        st[S_NEED] = NEED_BREACH;
                        st[S_NEED_EQUITY] = e;
                        stopped = 1;
                    }
                }
            }
            if (!stopped && act) {
                if (t == first && st[S_HAS_FORCE_Q] != 0) {
                    for (int64_t j = 0; j < n; j++) new_q[j] = force_q[j];
                } else if (decide_row(n, qv, e > 0 ? target_st : zeros, e, close_t, min_trade, reserve, fractional,
                                      new_q)) {
                    st[S_NEED] = NEED_SHARES;
                    st[S_NEED_EQUITY] = e;
                    stopped = 1;
                }
            }
            if (stopped) {
                c = c_before;
                fl = fl_before;
                borrowed -= fee;
                st[S_START] = (double)t;
                break;
            }
            if (record && next_open) mark_book(n, t, qv, close_t, e, held, gross, net, values);
            if (!act) {
                eq[t] = e;
            } else {
                const int late = next_open && t + 1 >= t_len;
                const double *fill_t = next_open ? a->opens + (t + 1 < t_len - 1 ? t + 1 : t_len - 1) * n : close_t;
                double traded = 0.0, paid_total = 0.0, slipped = 0.0;
                int acted = 0;
                const int64_t k = a->n_trades[0];
                if (record && k >= a->k_cap) {
                    free(scratch);
                    return -2;
                }
                double *rec = record ? a->trades + k * rec_width : NULL;
                for (int64_t j = 0; j < n; j++) {
                    double d = late ? 0.0 : new_q[j] - qv[j];
                    double sign = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
                    double paid = fill_t[j] * (1.0 + sign * slip);
                    traded += fabs(d) * fill_t[j];
                    paid_total += d * paid;
                    slipped += d * (paid - fill_t[j]);
                    if (d != 0) acted = 1;
                    if (record) {
                        rec[R_LEN + j] = d;
                        rec[R_LEN + n + j] = fill_t[j];
                        rec[R_LEN + 2 * n + j] = paid;
                    }
                    qv[j] += d;
                }
                double fee_paid = traded * commission;
                double cash_flow = -paid_total - fee_paid;
                rebalances += acted;
                decisions += 1;
                traded_sum += traded;
                costs_sum += fee_paid + slipped;
                if (record && acted) {
                    rec[R_ROW] = (double)v;
                    rec[R_DAY] = (double)t;
                    rec[R_COMMISSION] = fee_paid;
                    a->n_trades[0] = k + 1;
                }
                if (next_open) {
                    eq[t] = e;
                    fl = cash_flow;
                } else {
                    c = c + cash_flow;
                    double marked = c;
                    for (int64_t j = 0; j < n; j++) marked += qv[j] * close_t[j];
                    eq[t] = marked;
                }
            }
            if (record && !next_open) mark_book(n, t, qv, close_t, eq[t], held, gross, net, values);
            if (t == first) {
                st[S_FORCE_BREACH] = -1;
                st[S_HAS_FORCE_Q] = 0;
            }
            while (e_split < e_len && a->split_day[e_split] == t + 1) {
                int64_t j = a->split_col[e_split];
                qv[j] = rint(qv[j] * a->split_ratio[e_split] * SPLIT_STEPS) / SPLIT_STEPS;
                e_split++;
            }
        }
        if (!stopped) st[S_START] = (double)t_len;
        st[S_CASH] = c;
        st[S_FLOW] = fl;
        sm[M_TRADED] = traded_sum;
        sm[M_COSTS] = costs_sum;
        sm[M_BORROW] += borrowed;
        sm[M_REBALANCES] = (double)rebalances;
        sm[M_DECISIONS] = (double)decisions;
        if (!stopped && a->stats) curve_row(t_len, eq, cash_return, r, sm + M_CURVE);
    }
    free(scratch);
    return 0;
}

/* curve_row for each row of equity (V, T) into out (V, C_LEN); -1 when scratch cannot be allocated. */
int pb_curve_stats(int64_t v_len, int64_t t_len, const double *equity, const double *cash_return, double *out)
{
    double *r = malloc((size_t)(t_len > 1 ? t_len : 1) * sizeof(double));
    if (r == NULL) return -1;
    for (int64_t v = 0; v < v_len; v++) curve_row(t_len, equity + v * t_len, cash_return, r, out + v * C_LEN);
    free(r);
    return 0;
}

int pb_leg_over(int64_t n, const double *q, const double *prices_t, const double *target_st, double equity,
                double band)
{
    return leg_over_row(n, q, prices_t, target_st, equity, band);
}

int pb_book_over(int64_t n, int64_t u_len, const double *q, const double *prices_t, const double *target_st,
                 double equity, double gross_band, double net_band, double eff_band, const double *multiples)
{
    return book_over(n, u_len, q, prices_t, target_st, equity, gross_band, net_band, eff_band, multiples);
}

int pb_decide_row(int64_t n, const double *held, const double *weights, double equity, const double *prices,
                  double min_trade, double reserve, int fractional, double *out)
{
    return decide_row(n, held, weights, equity, prices, min_trade, reserve, fractional, out);
}
