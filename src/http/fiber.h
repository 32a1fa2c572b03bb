/*
 * fiber.h - coroutines for the event loops of `prodata serve` (fiber.c). A
 * fiber runs a function on its own stack until the function waits (yields)
 * or returns; whoever resumed it goes on from there. A loop thread runs many
 * requests this way, one at a time, each switching out while its statement
 * is at the database. A fiber is reused: once its function returned it can
 * be started again with another.
 */
#ifndef PRODATA_HTTP_FIBER_H
#define PRODATA_HTTP_FIBER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct PdFiber PdFiber;
typedef void (*PdFiberFn)(void *argument);

/* A fiber with a stack of stack_size bytes (and a guard page below it); NULL when memory is short. */
PdFiber *pd_fiber_new(size_t stack_size);
void pd_fiber_free(PdFiber *fiber);

/* Runs fn(argument) on fiber until it yields or returns. Returns true when it returned. */
bool pd_fiber_start(PdFiber *fiber, PdFiberFn fn, void *argument);
/* Goes on with a fiber that yielded, until it yields again or returns. Returns true when it returned. */
bool pd_fiber_resume(PdFiber *fiber);
/* From inside a fiber: back to whoever started or resumed it. */
void pd_fiber_yield(void);
/* The fiber running on this thread, or NULL outside any. */
PdFiber *pd_fiber_current(void);

#endif
