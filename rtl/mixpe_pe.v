// mixpe_pe: MixPE's processing element (Zhang et al., arXiv 2411.16158): a low-bit weight times an
// int8 activation by shift-and-add, integer accumulation within a quantisation group, and one
// dequantisation per group instead of one per weight.
//
// Quantisation (asymmetric, per group): a weight is w = (q - zero) * scale, q and zero unsigned
// W_BITS-bit codes, scale an unsigned SCALE_BITS-bit fixed-point number (its binary point is the
// caller's business: the PE computes the integer  sum_k a_k (q_k - zero) scale).  Per group g:
//     gacc = sum_k a_k * q_k          (shift-and-add: q's set bits select a << b)
//     asum = sum_k a_k
//     acc <= wrap(acc + (gacc - zero * asum) * scale, ACC_BITS)          -- once per group
// which equals the dequantise-in-the-loop form sum_k a_k * ((q_k - zero) * scale) exactly (see
// sim.kernels.mixpe_group / mixpe_dequant / mac_dequant; dequant_pe.v is that conventional PE).
// gacc and asum are exact for groups of up to 2**GROUP_BITS elements; only acc wraps.
//
// The dequantisation (rtl/mixpe_dequant.v, a block of its own so that synthesis can price it apart
// from the group datapath) is itself shift-and-add, one scale bit per cycle (SCALE_BITS cycles), and
// overlaps the next group's accumulation: a group-closing element (last) is taken only when the
// serial unit is idle or on its final step, so groups of at least SCALE_BITS elements never stall.
// Handshake: an element (a, q, last, and with last: zero, scale) is taken on an edge where
// valid & in_ready; in_ready = !(last & busy-beyond-this-cycle) is combinational.  busy is high
// while a dequantisation is in flight; acc is final when busy is low.  clr zeroes acc on the edge
// (a dequantisation step on the same edge adds into the cleared acc).
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module mixpe_pe #(
    parameter A_BITS     = 8,
    parameter W_BITS     = 4,
    parameter GROUP_BITS = 7,
    parameter SCALE_BITS = 16,
    parameter ACC_BITS   = 40
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire                       clr,
    input  wire                       valid,
    input  wire                       last,
    input  wire signed [A_BITS-1:0]   a,
    input  wire [W_BITS-1:0]          q,
    input  wire [W_BITS-1:0]          zero,
    input  wire [SCALE_BITS-1:0]      scale,
    output wire                       in_ready,
    output wire                       busy,
    output reg  signed [ACC_BITS-1:0] acc
);
    localparam P_BITS = A_BITS + W_BITS;               // a * q, q unsigned
    localparam G_BITS = A_BITS + W_BITS + GROUP_BITS;  // gacc, and gacc - zero * asum
    localparam S_BITS = A_BITS + GROUP_BITS;           // asum

    // ---- shift-and-add product a * q ----------------------------------------------------------
    wire signed [P_BITS-1:0] a_ext = a;
    reg  signed [P_BITS-1:0] prod;
    integer b;
    always @(*) begin
        prod = {P_BITS{1'b0}};
        for (b = 0; b < W_BITS; b = b + 1)
            if (q[b]) prod = prod + (a_ext <<< b);
    end

    // ---- group accumulation (no enables: an idle cycle adds 0, a closed group restarts from 0) --
    reg                      open;                     // a group has elements in gacc/asum
    reg  signed [G_BITS-1:0] gacc;
    reg  signed [S_BITS-1:0] asum;
    wire                     take     = valid & in_ready;
    wire signed [G_BITS-1:0] prod_ext = take ? prod : $signed({P_BITS{1'b0}});
    wire signed [S_BITS-1:0] a_sext   = take ? a : $signed({A_BITS{1'b0}});
    wire signed [G_BITS-1:0] gacc_nx  = (open ? gacc : {G_BITS{1'b0}}) + prod_ext;
    wire signed [S_BITS-1:0] asum_nx  = (open ? asum : {S_BITS{1'b0}}) + a_sext;

    // ---- per-group dequantisation (rtl/mixpe_dequant.v): zero-point correction, serial scale multiply
    wire                dq_busy, dq_free;
    wire [ACC_BITS-1:0] addend;
    mixpe_dequant #(.A_BITS(A_BITS), .W_BITS(W_BITS), .GROUP_BITS(GROUP_BITS), .SCALE_BITS(SCALE_BITS),
                    .ACC_BITS(ACC_BITS)) u_dq (
        .clk(clk), .rst(rst), .load(take & last), .gacc(gacc_nx), .asum(asum_nx), .zero(zero), .scale(scale),
        .addend(addend), .busy(dq_busy), .free_next(dq_free)
    );
    assign busy     = dq_busy;
    assign in_ready = ~last | dq_free;                 // free now or after this edge
    wire [ACC_BITS-1:0] base   = clr ? {ACC_BITS{1'b0}} : acc;

    always @(posedge clk) begin
        if (rst) begin
            open <= 1'b0;
            acc  <= {ACC_BITS{1'b0}};
        end else begin
            acc  <= base + addend;
            gacc <= gacc_nx;
            asum <= asum_nx;
            if (take)
                open <= ~last;
        end
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
