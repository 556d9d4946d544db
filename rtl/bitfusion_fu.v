// bitfusion_fu: a precision-scalable fusion unit as BitFusion describes it (Sharma et al., "Bit Fusion:
// Bit-Level Dynamically Composable Architecture for Accelerating Deep Neural Networks", ISCA 2018, Sec. 3):
// a K x K grid of SLICE_BITS x SLICE_BITS signed/unsigned multipliers ("BitBricks", K = FUSED_BITS /
// SLICE_BITS) whose products a shift-add tree fuses, at run time, into fewer wider products, plus an
// accumulator.  BitFusion: SLICE_BITS = 2, 16 bricks, 8x8 -> 1, 4x8 -> 2, 4x4 -> 4, 2x2 -> 16 products per
// cycle.  With SLICE_BITS = 4 the same unit is ANT's fused PE at the level the arch model prices it (Guo et
// al., MICRO 2022: four 4-bit multipliers fused for 8x8; ANT's int4/flint4/PoT4 type decoders are left out).
//
// Operand widths: a_mode / w_mode = m gives operands of SLICE_BITS << m bits (m above log2(K) acts as
// log2(K), the full FUSED_BITS).  With n_a = 1 << a_mode slices per activation and n_w per weight, the unit
// forms P = K*K / (n_a * n_w) products ("fused PEs") in one cycle, lane l taking activation l at
// a[l*A +: A] and weight l at w[l*W +: W] (A, W the operand widths; bits above the last lane are ignored),
// and adds their sum to the accumulator:
//     acc <= wrap((clr ? 0 : acc) + (en ? sum_l a_l * w_l : 0), ACC_BITS)      (mac_pe's clr/en rules)
// a_signed / w_signed read the operands as two's complement (else unsigned).  Reference arithmetic:
// sim.kernels.fused_mac.
//
// How a product is fused: brick (ai, wi) of the grid multiplies slice i = ai mod n_a of its lane's
// activation by slice j = wi mod n_w of its weight, lane = (ai / n_a) * (K / n_w) + wi / n_w; only a top
// slice is sign-extended (when its operand is signed; BitBricks take a sign bit per operand), lower slices
// are unsigned; the brick's product is shifted left by (i + j) * SLICE_BITS and all bricks are added.  The
// sum is kept modulo 2^SUM_BITS, wide enough for every mode's exact result, so the adder tree's order does
// not matter.
/* verilator lint_off WIDTHEXPAND */
/* verilator lint_off WIDTHTRUNC */
module bitfusion_fu #(
    parameter SLICE_BITS = 2,
    parameter FUSED_BITS = 8,
    parameter ACC_BITS   = 32
) (
    input  wire                                             clk,
    input  wire                                             clr,
    input  wire                                             en,
    input  wire [1:0]                                       a_mode,
    input  wire [1:0]                                       w_mode,
    input  wire                                             a_signed,
    input  wire                                             w_signed,
    input  wire [(FUSED_BITS / SLICE_BITS) * FUSED_BITS-1:0] a,
    input  wire [(FUSED_BITS / SLICE_BITS) * FUSED_BITS-1:0] w,
    output reg  signed [ACC_BITS-1:0]                       acc
);
    localparam K        = FUSED_BITS / SLICE_BITS;            // slices per full-width operand
    localparam LOG2K    = (K >= 8) ? 3 : (K >= 4) ? 2 : (K >= 2) ? 1 : 0;
    localparam P_BITS   = 2 * SLICE_BITS + 2;                 // (S+1)-bit x (S+1)-bit signed brick product
    localparam SUM_BITS = 2 * FUSED_BITS + 4;                 // every mode's sum of products fits
    localparam [1:0] MAX_MODE = LOG2K;

    wire [1:0] ma = (a_mode > MAX_MODE) ? MAX_MODE : a_mode;
    wire [1:0] mw = (w_mode > MAX_MODE) ? MAX_MODE : w_mode;

    // ---- operand routing: each brick's two slices, by mode (a mux over the legal mode pairs) -----------
    // Brick (ai, wi) in mode pair (m_a, m_w): slice ai mod 2^m_a of its lane's activation, slice wi mod 2^m_w
    // of its weight, lane (ai / 2^m_a) * (K / 2^m_w) + wi / 2^m_w; all constants once the loops unroll.
    function integer lane_of;
        input integer ai, wi, m_a, m_w;
        lane_of = (ai >> m_a) * (K >> m_w) + (wi >> m_w);
    endfunction
    function integer slice_at;                                // bit offset of slice `own` of operand `lane`
        input integer lane, own, m_own;
        slice_at = ((lane << m_own) + own % (1 << m_own)) * SLICE_BITS;
    endfunction

    integer ai, wi, m_a, m_w, l, x, y, u, v;
    localparam B_BITS = SLICE_BITS + 1;                       // a brick operand with its sign bit
    reg [K*K*B_BITS-1:0]        as_;                          // brick b's operands at [b*B_BITS +: B_BITS]
    reg [K*K*B_BITS-1:0]        ws_;
    always @(*) begin
        as_ = {(K*K*B_BITS){1'b0}};
        ws_ = {(K*K*B_BITS){1'b0}};
        for (ai = 0; ai < K; ai = ai + 1)
            for (wi = 0; wi < K; wi = wi + 1)
                for (m_a = 0; m_a <= LOG2K; m_a = m_a + 1)
                    for (m_w = 0; m_w <= LOG2K; m_w = m_w + 1)
                        if (ma == m_a && mw == m_w) begin
                            // only a top slice carries its operand's sign
                            as_[(ai * K + wi) * B_BITS +: B_BITS] =
                                {a_signed & (ai % (1 << m_a) == (1 << m_a) - 1)
                                          & a[slice_at(lane_of(ai, wi, m_a, m_w), ai, m_a) + SLICE_BITS - 1],
                                 a[slice_at(lane_of(ai, wi, m_a, m_w), ai, m_a) +: SLICE_BITS]};
                            ws_[(ai * K + wi) * B_BITS +: B_BITS] =
                                {w_signed & (wi % (1 << m_w) == (1 << m_w) - 1)
                                          & w[slice_at(lane_of(ai, wi, m_a, m_w), wi, m_w) + SLICE_BITS - 1],
                                 w[slice_at(lane_of(ai, wi, m_a, m_w), wi, m_w) +: SLICE_BITS]};
                        end
    end

    // ---- the bricks and the shift-add tree ----------------------------------------------------------
    // Level l (1..log2 K) adds 2 x 2 groups of level l-1; the group at (u, v) is shifted by SLICE_BITS *
    // 2^(l-1) for u when activations span that level (a_mode >= l), and the same for v and weights:
    // BitFusion's two-level tree of 4-brick 4x4 units and the 8x8 unit made of four of them.
    reg signed [P_BITS-1:0]     p;
    reg signed [SUM_BITS-1:0]   t;
    reg [K*K*SUM_BITS-1:0]      s;                            // partial sums at [g*SUM_BITS +: SUM_BITS], in place
    reg signed [SUM_BITS-1:0]   dot;
    always @(*) begin
        for (ai = 0; ai < K * K; ai = ai + 1) begin
            p     = $signed(as_[ai * B_BITS +: B_BITS]) * $signed(ws_[ai * B_BITS +: B_BITS]);
            t     = p;
            s[ai * SUM_BITS +: SUM_BITS] = t;
        end
        for (l = 1; l <= LOG2K; l = l + 1)
            for (x = 0; x < (K >> l); x = x + 1)
                for (y = 0; y < (K >> l); y = y + 1) begin
                    dot = {SUM_BITS{1'b0}};
                    for (u = 0; u < 2; u = u + 1)
                        for (v = 0; v < 2; v = v + 1) begin
                            t = s[((2 * x + u) * K + (2 * y + v)) * SUM_BITS +: SUM_BITS];
                            if (u == 1 && ma >= l) t = t <<< (SLICE_BITS << (l - 1));
                            if (v == 1 && mw >= l) t = t <<< (SLICE_BITS << (l - 1));
                            dot = dot + t;
                        end
                    s[(x * K + y) * SUM_BITS +: SUM_BITS] = dot;                      // (x, y) < (2x + u, 2y + v): read before written
                end
        dot = s[SUM_BITS-1:0];
    end

    // ---- accumulator ---------------------------------------------------------------------------------
    wire signed [ACC_BITS-1:0] dot_ext = dot;                  // sign-extend (or wrap when ACC_BITS < SUM_BITS)
    wire signed [ACC_BITS-1:0] base    = clr ? {ACC_BITS{1'b0}} : acc;

    always @(posedge clk) begin
        if (en)
            acc <= base + dot_ext;
        else if (clr)
            acc <= {ACC_BITS{1'b0}};
    end
endmodule
/* verilator lint_on WIDTHTRUNC */
/* verilator lint_on WIDTHEXPAND */
