/* The backtest's inner loop in C99: a line-for-line port of loop.py (the numba fallback).
 *
 * Same float operations in the same order as loop.py, compiled with -ffp-contract=off and without
 * fast-math, so both backends make the same decisions bit for bit. Arrays are C-contiguous numpy
 * buffers; numpy bools are bytes (uint8_t). cloop.py compiles this file on first use and calls it
 * through ctypes; TIE and WEIGHT_TIE come in as -D flags from bot/backtest/codes.py.
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
enum { OVER_NO = 0, OVER_YES = 1, OVER_TIE = 2 };
enum { NEED_NONE = 0, NEED_BREACH = 1, NEED_SHARES = 2 };

/* numba's max(a, b) / min(a, b): b when b > a (b < a), else a. */
static inline double max_nb(double a, double b) { return b > a ? b : a; }
static inline double min_nb(double a, double b) { return b < a ? b : a; }

/* prices[t, :] is prices_t, targets[s, tt, :] is target_st: callers pass the row pointers. */
static int leg_over_row(int64_t n, const double *q, const double *prices_t, const double *target_st,
                        double equity, double band)
{
    int tie = 0;
    double scale = 1.0 / equity;
    for (int64_t j = 0; j < n; j++) {
        double excess = fabs(q[j] * prices_t[j] * scale - target_st[j]) - band;
        if (q[j] != 0 && fabs(excess) <= WEIGHT_TIE) {
            tie = 1;
        } else if (excess > 0) {
            return OVER_YES;
        }
    }
    return tie ? OVER_TIE : OVER_NO;
}

int pb_leg_over(int64_t n, const double *q, const double *prices, int64_t t, const double *targets, int64_t tt_len,
                int64_t s, int64_t tt, double equity, double band)
{
    return leg_over_row(n, q, prices + t * n, targets + (s * tt_len + tt) * n, equity, band);
}

int pb_decide_row(int64_t n, const double *held, const double *weights, double equity, const double *prices,
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

static int book_over(int64_t n, int64_t u_len, const double *q, const double *prices_t, const double *target_st,
                     double equity, double gross_band, double net_band, double eff_band, const double *multiples)
{
    if (gross_band < INFINITY) {
        double held = 0.0, wanted = 0.0;
        for (int64_t j = 0; j < n; j++) {
            held += fabs(q[j] * prices_t[j] / equity);
            wanted += fabs(target_st[j]);
        }
        if (fabs(held - wanted) > gross_band) return 1;
    }
    if (net_band < INFINITY) {
        double net = 0.0;
        for (int64_t j = 0; j < n; j++) {
            net += q[j] * prices_t[j] / equity - target_st[j];
        }
        if (fabs(net) > net_band) return 1;
    }
    if (eff_band < INFINITY) {
        for (int64_t u = 0; u < u_len; u++) {
            double eff = 0.0;
            for (int64_t j = 0; j < n; j++) {
                eff += (q[j] * prices_t[j] / equity - target_st[j]) * multiples[j * u_len + u];
            }
            if (fabs(eff) > eff_band) return 1;
        }
    }
    return 0;
}

/* loop.py:simulate. Shapes: close, opens (T, N); multiples (N, U); split_day, split_col, split_ratio (E,),
 * sorted by day; targets (S, TT, N); due (F, T);
 * bands (V, 4); costs_bps (V, 3); q, force_q (V, N); equity (V, T); tallies (V, 4); counts (V, 2);
 * trades (K, 3, N); trade_at (K, 3), K = k_cap. Returns 0; -1 when the scratch rows cannot be allocated;
 * -2 when a trade would be recorded past row k_cap (the driver sizes them so that it cannot). */
int pb_simulate(int64_t n_rows, const int64_t *rows, int64_t t_len, int64_t n, int64_t tt_len, int64_t u_len,
                const double *close, const double *opens, const double *cash_return, const double *accrual_days,
                const double *multiples, int64_t n_splits, const int64_t *split_day, const int64_t *split_col,
                const double *split_ratio, const double *targets, const int64_t *target_row, const uint8_t *due,
                const int64_t *due_row, const double *bands, const double *costs_bps, const double *min_trade,
                const double *reserve, const uint8_t *fractional, int next_open, int record,
                double *q, double *cash, double *flow, int64_t *start, int8_t *force_breach, const double *force_q,
                uint8_t *has_force_q, double *equity, double *tallies, int64_t *counts, int8_t *need,
                double *need_equity, double *trades, double *trade_at, int64_t *n_trades, int64_t k_cap)
{
    int per_session = tt_len > 1;
    double *new_q = malloc((size_t)(n + 1) * sizeof(double));
    double *zeros = calloc((size_t)(n + 1), sizeof(double));
    if (new_q == NULL || zeros == NULL) {
        free(new_q);
        free(zeros);
        return -1;
    }
    for (int64_t i = 0; i < n_rows; i++) {
        int64_t v = rows[i];
        need[v] = NEED_NONE;
        double *qv = q + v * n;
        double c = cash[v];
        double fl = flow[v];
        int64_t s = target_row[v], f = due_row[v];
        double leg_b = bands[v * 4 + 0], gross_b = bands[v * 4 + 1], net_b = bands[v * 4 + 2];
        double eff_b = bands[v * 4 + 3];
        int book_banded = gross_b < INFINITY || net_b < INFINITY || eff_b < INFINITY;
        double commission = costs_bps[v * 3 + 0] * 1e-4, slip = costs_bps[v * 3 + 1] * 1e-4;
        double borrow = costs_bps[v * 3 + 2] * 1e-4;
        int64_t first = start[v];
        double borrowed = 0.0;
        int stopped = 0;
        int64_t e_split = 0;
        while (e_split < n_splits && split_day[e_split] <= first) e_split++;
        for (int64_t t = first; t < t_len; t++) {
            const double *close_t = close + t * n;
            double c_before = c, fl_before = fl;
            double fee = 0.0;
            if (t > 0) {
                double short_value = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    if (qv[j] < 0) short_value -= qv[j] * close_t[j];
                }
                fee = borrow * short_value * accrual_days[t] / 360.0;
                borrowed += fee;
                c = c * (1.0 + cash_return[t]) + fl - fee;
                fl = 0.0;
            }
            double e = c;
            for (int64_t j = 0; j < n; j++) e += qv[j] * close_t[j];
            int64_t tt = per_session ? t : 0;
            const double *target_st = targets + (s * tt_len + tt) * n;
            int act = due[f * t_len + t] || !(e > 0);
            if (!act) {
                if (t == first && force_breach[v] >= 0) {
                    act = force_breach[v] == 1;
                } else {
                    if (book_banded) {
                        act = book_over(n, u_len, qv, close_t, target_st, e, gross_b, net_b, eff_b, multiples);
                    }
                    if (!act && leg_b < INFINITY) {
                        int over = leg_over_row(n, qv, close_t, target_st, e, leg_b);
                        if (over == OVER_TIE) {
                            need[v] = NEED_BREACH;
                            need_equity[v] = e;
                            stopped = 1;
                        }
                        act = over == OVER_YES;
                    }
                }
            }
            if (stopped) {
                c = c_before;
                fl = fl_before;
                borrowed -= fee;
                start[v] = t;
                break;
            }
            if (!act) {
                equity[v * t_len + t] = e;
            } else {
                if (t == first && has_force_q[v]) {
                    for (int64_t j = 0; j < n; j++) new_q[j] = force_q[v * n + j];
                } else if (pb_decide_row(n, qv, e > 0 ? target_st : zeros, e, close_t, min_trade[v], reserve[v],
                                         fractional[v] != 0, new_q)) {
                    need[v] = NEED_SHARES;
                    need_equity[v] = e;
                    c = c_before;
                    fl = fl_before;
                    borrowed -= fee;
                    start[v] = t;
                    stopped = 1;
                    break;
                }
                int late = next_open && t + 1 >= t_len;
                const double *fill_t;
                if (next_open) {
                    int64_t ft = t + 1 < t_len - 1 ? t + 1 : t_len - 1;
                    fill_t = opens + ft * n;
                } else {
                    fill_t = close_t;
                }
                double traded = 0.0, paid_total = 0.0, slipped = 0.0;
                int acted = 0;
                int64_t k = n_trades[0];
                if (record && k >= k_cap) {
                    free(new_q);
                    free(zeros);
                    return -2;
                }
                for (int64_t j = 0; j < n; j++) {
                    double d = late ? 0.0 : new_q[j] - qv[j];
                    double sign = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
                    double paid = fill_t[j] * (1.0 + sign * slip);
                    traded += fabs(d) * fill_t[j];
                    paid_total += d * paid;
                    slipped += d * (paid - fill_t[j]);
                    if (d != 0) acted = 1;
                    if (record) {
                        trades[(k * 3 + 0) * n + j] = d;
                        trades[(k * 3 + 1) * n + j] = fill_t[j];
                        trades[(k * 3 + 2) * n + j] = paid;
                    }
                    qv[j] += d;
                }
                double fee_paid = traded * commission;
                double cash_flow = -paid_total - fee_paid;
                counts[v * 2 + 0] += acted;
                counts[v * 2 + 1] += 1;
                tallies[v * 4 + 0] += traded;
                tallies[v * 4 + 1] += fee_paid + slipped;
                if (record && acted) {
                    trade_at[k * 3 + 0] = (double)v;
                    trade_at[k * 3 + 1] = (double)t;
                    trade_at[k * 3 + 2] = fee_paid;
                    n_trades[0] = k + 1;
                }
                if (next_open) {
                    equity[v * t_len + t] = e;
                    fl = cash_flow;
                } else {
                    c = c + cash_flow;
                    double marked = c;
                    for (int64_t j = 0; j < n; j++) marked += qv[j] * close_t[j];
                    equity[v * t_len + t] = marked;
                }
            }
            if (t == first) {
                force_breach[v] = -1;
                has_force_q[v] = 0;
            }
            while (e_split < n_splits && split_day[e_split] == t + 1) {
                int64_t j = split_col[e_split];
                qv[j] = rint(qv[j] * split_ratio[e_split] * SPLIT_STEPS) / SPLIT_STEPS;
                e_split++;
            }
        }
        if (!stopped) start[v] = t_len;
        cash[v] = c;
        flow[v] = fl;
        tallies[v * 4 + 2] += borrowed;
    }
    free(new_q);
    free(zeros);
    return 0;
}

/* loop.py:curve_stats: per row of equity (V, T) into out (V, 7). Returns -1 when scratch cannot be allocated. */
int pb_curve_stats(int64_t v_len, int64_t t_len, const double *equity, const double *cash_return, double *out)
{
    int64_t m = t_len - 1;
    double *r = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    if (r == NULL) return -1;
    for (int64_t v = 0; v < v_len; v++) {
        const double *e = equity + v * t_len;
        double total = e[0];
        double r_sum = 0.0, x_sum = 0.0;
        double peak = e[0];
        double worst = 0.0;
        for (int64_t t = 1; t < t_len; t++) {
            total += e[t];
            r[t - 1] = e[t] / e[t - 1] - 1.0;
            r_sum += r[t - 1];
            x_sum += r[t - 1] - cash_return[t];
            peak = max_nb(peak, e[t]);
            worst = min_nb(worst, e[t] / peak - 1.0);
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
        double *o = out + v * 7;
        o[0] = total / (double)t_len;
        o[1] = r_mean;
        o[2] = m > 1 ? sqrt(r_sq / (double)(m - 1)) : NAN;
        o[3] = x_mean;
        o[4] = m > 1 ? sqrt(x_sq / (double)(m - 1)) : NAN;
        o[5] = m > 0 ? sqrt(down / (double)m) : NAN;
        o[6] = worst;
    }
    free(r);
    return 0;
}
