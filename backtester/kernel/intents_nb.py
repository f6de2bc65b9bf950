"""Executing what a strategy queued during a decision (hybrid driver, hook mode).

``on_decision`` runs in Python inside the kernel's objmode hook and only *queues* orders,
cancels and transfers in ``st.intents``; they are executed here, in order, once the hook has
returned, each exactly as a direct send at the decision time would be (a zero-latency order is
admitted before the next intent is sent).
"""

from .accounts_nb import account_state_nb
from .decisions_nb import view_nb
from .dynamic_nb import advance_nb
from .enums import (C_INTENT_DONE, C_INTENTS, FLAG_IOC, FLAG_POST_ONLY, FLAG_REDUCE_ONLY, IC_A, IC_B,
                    IC_FLAGS, IC_KIND, IC_LIMIT, IC_SIZE, IC_TRIGGER, IC_TYPE, IN_CANCEL, IN_ORDER,
                    SN_GROSS, SN_IMR, SN_MMR, SN_NC, STEP_DECISION)
from .orders_nb import cancel_nb, submit_nb
from .state import inlined, CI_BRIDGE_DELAY
from .transfers_nb import transfer_nb


@inlined
def snapshot_nb(inp, st, t):
    """What the strategy reads at a decision: account figures and expected positions."""
    for a in range(inp.ac_venue.shape[0]):
        nc, imr, mmr, gross = account_state_nb(inp, st, a)
        st.snapshot[a, SN_NC] = nc
        st.snapshot[a, SN_IMR] = imr
        st.snapshot[a, SN_MMR] = mmr
        st.snapshot[a, SN_GROSS] = gross
    view_nb(inp, st, t, st.view_pos)


@inlined
def execute_intents_nb(inp, st, t, room_orders, bk):
    """Execute queued intents from where the last call stopped; False when out of room.

    ``room_orders``: how many intents fit in the record buffers now (one order or transfer and
    its ledger rows each).
    """
    n = st.counters[C_INTENTS]
    i = st.counters[C_INTENT_DONE]
    while i < n:
        if room_orders <= 0:
            st.counters[C_INTENT_DONE] = i
            return False
        row = st.intents[i]
        kind = int(row[IC_KIND])
        if kind == IN_ORDER:
            flags = int(row[IC_FLAGS])
            submit_nb(inp, st, t, int(row[IC_A]), int(row[IC_B]), row[IC_SIZE], int(row[IC_TYPE]),
                      row[IC_LIMIT], row[IC_TRIGGER], (flags & FLAG_REDUCE_ONLY) != 0,
                      (flags & FLAG_POST_ONLY) != 0, (flags & FLAG_IOC) != 0, -1)
        elif kind == IN_CANCEL:
            cancel_nb(inp, st, t, int(row[IC_A]))
        else:
            src = int(row[IC_A])
            dst = int(row[IC_B])
            same = inp.ac_venue[src] == inp.ac_venue[dst]
            transfer_nb(inp, st, t, src, dst, row[IC_SIZE], 0 if same else inp.cfg_i[CI_BRIDGE_DELAY])
        if st.next_arrival[0] <= t:  # a zero-latency send reaches the engine before the next
            advance_nb(inp, st, t, STEP_DECISION, bk)
        room_orders -= 1
        i += 1
    st.counters[C_INTENTS] = 0
    st.counters[C_INTENT_DONE] = 0
    return True
