/* clock.h: the monotonic clocks every deadline in hookhost is measured on. */
#ifndef HOOKHOST_CLOCK_H
#define HOOKHOST_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: deadlines, budgets, report windows. */
int64_t clock_ms(void);

/* CLOCK_MONOTONIC in microseconds: durations too short for milliseconds (worker overhead). */
int64_t clock_us(void);

#endif
