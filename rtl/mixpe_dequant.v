// mixpe_dequant: MixPE's per-group dequantiser (Zhang et al., arXiv 2411.16158), the part of mixpe_pe
// that exists only because weights are quantised.  At a group's close (load) it takes the group's
// integer sums and forms
//     d = gacc - zero * asum                  (zero-point correction, shift-and-add over zero's bits)
// then multiplies d by the group's scale one scale bit per cycle (SCALE_BITS cycles), presenting
// d << b on `addend` in the cycle that scale bit b is applied (0 otherwise); the PE adds `addend`
// into its accumulator.  `busy` is high while a multiplication is in flight; `free_next` is high
// when a new load may be taken on this edge (idle, or on the final step).
// A block of its own so that `dse rtl synth` prices it separately: mixpe_pe is this plus the
// per-PE group datapath, and the arch model (arch/tech.py) moves the dequantiser out of the PE.
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module mixpe_dequant #(
    parameter A_BITS     = 8,
    parameter W_BITS     = 4,
    parameter GROUP_BITS = 7,
    parameter SCALE_BITS = 16,
    parameter ACC_BITS   = 40
) (
    input  wire                                          clk,
    input  wire                                          rst,
    input  wire                                          load,
    input  wire signed [A_BITS+W_BITS+GROUP_BITS-1:0]    gacc,
    input  wire signed [A_BITS+GROUP_BITS-1:0]           asum,
    input  wire [W_BITS-1:0]                             zero,
    input  wire [SCALE_BITS-1:0]                         scale,
    output wire [ACC_BITS-1:0]                           addend,
    output wire                                          busy,
    output wire                                          free_next
);
    localparam G_BITS = A_BITS + W_BITS + GROUP_BITS;  // gacc, and gacc - zero * asum
    localparam DS_BITS = (ACC_BITS < G_BITS + SCALE_BITS) ? ACC_BITS : G_BITS + SCALE_BITS;  // d << b, b < SCALE_BITS

    // ---- zero-point correction by shift-and-add: d = gacc - zero * asum --------------------------
    wire signed [G_BITS-1:0] asum_g = asum;
    reg  signed [G_BITS-1:0] zsum;
    integer b;
    always @(*) begin
        zsum = {G_BITS{1'b0}};
        for (b = 0; b < W_BITS; b = b + 1)
            if (zero[b]) zsum = zsum + (asum_g <<< b);
    end
    wire signed [G_BITS-1:0]  d_grp = gacc - zsum;
    wire signed [DS_BITS-1:0] d_ext = d_grp;

    // ---- serial scale multiply: addend = d << b while scale bit b is applied ----------------------
    // s_sh holds the scale bits not yet applied under a marker bit: {1, scale} when loaded, 1 when
    // done (0 after reset), so the marker's position counts the steps left.
    reg [DS_BITS-1:0]    d_sh;                         // d << (bits applied so far)
    reg [SCALE_BITS:0]   s_sh;
    wire step = |s_sh[SCALE_BITS:1];
    assign busy      = step;
    assign free_next = ~|s_sh[SCALE_BITS:2];
    wire signed [DS_BITS-1:0]  d_now = d_sh;
    wire signed [ACC_BITS-1:0] d_acc = d_now;
    assign addend = (step & s_sh[0]) ? d_acc : {ACC_BITS{1'b0}};

    always @(posedge clk) begin
        if (rst) begin
            s_sh <= {(SCALE_BITS + 1){1'b0}};
        end else if (load) begin
            d_sh <= d_ext;
            s_sh <= {1'b1, scale};
        end else if (step) begin
            d_sh <= d_sh << 1;
            s_sh <= s_sh >> 1;
        end
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
