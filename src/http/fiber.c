/*
 * fiber.c - coroutines on ucontext (makecontext/swapcontext). Each fiber has
 * an mmap'd stack with a guard page below it, so an overflow faults rather
 * than corrupts; its entry function loops forever, running one task per
 * start, so a fiber is made once and reused by request after request.
 * Switches are announced to AddressSanitizer when it is built in (it must
 * know which stack is current), and cost nothing otherwise.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "fiber.h"

#if defined(__SANITIZE_ADDRESS__)
#define PD_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_FIBER_ASAN 1
#endif
#endif
#ifdef PD_FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

struct PdFiber
{
    ucontext_t context;
    ucontext_t caller; /* where a yield or a return goes */
    void *mapping;     /* the guard page and the stack */
    size_t mapping_size;
    void *stack;
    size_t stack_size;
    PdFiberFn fn;
    void *argument;
    bool is_done;
    PdFiber *previous; /* the fiber current before this one ran (NULL: the thread's own stack) */
#ifdef PD_FIBER_ASAN
    void *fake_stack;         /* ASan's per-switch bookkeeping */
    const void *caller_stack; /* the stack the fiber was entered from */
    size_t caller_stack_size;
#endif
};

static _Thread_local PdFiber *current;

/* ---- AddressSanitizer's view of the switches ---- */

static void
enter_stack(void **save, const void *bottom, size_t size)
{
#ifdef PD_FIBER_ASAN
    __sanitizer_start_switch_fiber(save, bottom, size);
#else
    (void)save;
    (void)bottom;
    (void)size;
#endif
}

static void
entered_stack(void *save, PdFiber *fiber)
{
#ifdef PD_FIBER_ASAN
    if (fiber != NULL)
        __sanitizer_finish_switch_fiber(save, &fiber->caller_stack, &fiber->caller_stack_size);
    else
        __sanitizer_finish_switch_fiber(save, NULL, NULL);
#else
    (void)save;
    (void)fiber;
#endif
}

/* ---- life ---- */

static void
entry(unsigned int high, unsigned int low)
{
    PdFiber *fiber = (PdFiber *)(((uintptr_t)high << 32) | (uintptr_t)low);
    entered_stack(NULL, fiber);
    for (;;)
    {
        fiber->fn(fiber->argument);
        fiber->is_done = true;
        pd_fiber_yield();
    }
}

/* The context that starts in entry on the fiber's stack (apart: getcontext returns twice in principle). */
static bool
make_context(PdFiber *fiber)
{
    if (getcontext(&fiber->context) != 0)
        return false;
    fiber->context.uc_stack.ss_sp = fiber->stack;
    fiber->context.uc_stack.ss_size = fiber->stack_size;
    fiber->context.uc_link = NULL; /* entry never returns */
    uintptr_t self = (uintptr_t)fiber;
    makecontext(&fiber->context, (void (*)(void))entry, 2, (unsigned int)(self >> 32),
                (unsigned int)(self & 0xffffffffu));
    return true;
}

PdFiber *
pd_fiber_new(size_t stack_size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    stack_size = (stack_size + page - 1) / page * page;
    PdFiber *fiber = calloc(1, sizeof(*fiber));
    if (fiber == NULL)
        return NULL;
    fiber->mapping_size = stack_size + page;
    fiber->mapping = mmap(NULL, fiber->mapping_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    fiber->stack = (char *)fiber->mapping + page;
    fiber->stack_size = stack_size;
    if (fiber->mapping == MAP_FAILED || mprotect(fiber->mapping, page, PROT_NONE) != 0 ||
        !make_context(fiber))
    {
        if (fiber->mapping != MAP_FAILED)
            munmap(fiber->mapping, fiber->mapping_size);
        free(fiber);
        return NULL;
    }
    return fiber;
}

void
pd_fiber_free(PdFiber *fiber)
{
    if (fiber == NULL)
        return;
    munmap(fiber->mapping, fiber->mapping_size);
    free(fiber);
}

/* ---- switching ---- */

static bool
switch_in(PdFiber *fiber)
{
    fiber->previous = current;
    current = fiber;
    void *save = NULL;
    enter_stack(&save, fiber->stack, fiber->stack_size);
    swapcontext(&fiber->caller, &fiber->context);
    entered_stack(save, NULL);
    current = fiber->previous;
    return fiber->is_done;
}

bool
pd_fiber_start(PdFiber *fiber, PdFiberFn fn, void *argument)
{
    fiber->fn = fn;
    fiber->argument = argument;
    fiber->is_done = false;
    return switch_in(fiber);
}

bool
pd_fiber_resume(PdFiber *fiber)
{
    return switch_in(fiber);
}

void
pd_fiber_yield(void)
{
    PdFiber *fiber = current;
    if (fiber == NULL)
        return;
#ifdef PD_FIBER_ASAN
    enter_stack(&fiber->fake_stack, fiber->caller_stack, fiber->caller_stack_size);
#endif
    swapcontext(&fiber->context, &fiber->caller);
#ifdef PD_FIBER_ASAN
    entered_stack(fiber->fake_stack, fiber);
#endif
}

PdFiber *
pd_fiber_current(void)
{
    return current;
}
