// dequant_pe: the conventional W4A8 PE that MixPE replaces -- a dequantiser in front of a
// multiplier-based MAC.  Every weight is dequantised in the loop:
//     wd  = (q - zero) * scale                 (W_BITS + 1 + SCALE_BITS bits, exact)
//     acc <= wrap((clr ? 0 : acc) + (en ? a * wd : 0), ACC_BITS)
// Same function as mixpe_pe (sim.kernels.mac_dequant = the in-loop form), same clr/en rules as
// mac_pe.  It is the area baseline for mixpe_pe in `dse rtl synth`.
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module dequant_pe #(
    parameter A_BITS     = 8,
    parameter W_BITS     = 4,
    parameter SCALE_BITS = 16,
    parameter ACC_BITS   = 40
) (
    input  wire                       clk,
    input  wire                       clr,
    input  wire                       en,
    input  wire signed [A_BITS-1:0]   a,
    input  wire [W_BITS-1:0]          q,
    input  wire [W_BITS-1:0]          zero,
    input  wire [SCALE_BITS-1:0]      scale,
    output reg  signed [ACC_BITS-1:0] acc
);
    localparam D_BITS = W_BITS + 1;                   // q - zero
    localparam WD_BITS = D_BITS + SCALE_BITS + 1;     // (q - zero) * scale, signed
    localparam P_BITS = A_BITS + WD_BITS;

    wire signed [D_BITS-1:0]     qd   = $signed({1'b0, q}) - $signed({1'b0, zero});
    wire signed [SCALE_BITS:0]   sc   = $signed({1'b0, scale});
    wire signed [WD_BITS-1:0]    wd   = qd * sc;
    wire signed [P_BITS-1:0]     prod = a * wd;
    wire signed [ACC_BITS-1:0]   prod_ext = prod;
    wire signed [ACC_BITS-1:0]   base = clr ? {ACC_BITS{1'b0}} : acc;

    always @(posedge clk) begin
        if (en)
            acc <= base + prod_ext;
        else if (clr)
            acc <= {ACC_BITS{1'b0}};
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
