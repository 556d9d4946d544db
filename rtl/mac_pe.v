// mac_pe: signed multiply-accumulate, A_BITS x W_BITS -> ACC_BITS, two's-complement wrap-around.
//
// One clock edge does   acc <= wrap((clr ? 0 : acc) + (en ? a * w : 0), ACC_BITS)
//   clr=0 en=0  hold            clr=1 en=0  acc <= 0
//   clr=0 en=1  acc += a * w    clr=1 en=1  acc <= a * w   (start a new sum without a bubble)
// Reference arithmetic: sim.kernels.mac_int(a, w, acc, A_BITS, W_BITS, ACC_BITS).
// Overflow wraps (no saturation); an ACC_BITS narrower than A_BITS + W_BITS wraps the product too.
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module mac_pe #(
    parameter A_BITS   = 8,
    parameter W_BITS   = 8,
    parameter ACC_BITS = 32
) (
    input  wire                       clk,
    input  wire                       clr,
    input  wire                       en,
    input  wire signed [A_BITS-1:0]   a,
    input  wire signed [W_BITS-1:0]   w,
    output reg  signed [ACC_BITS-1:0] acc
);
    localparam P_BITS = A_BITS + W_BITS;

    wire signed [P_BITS-1:0]   prod     = a * w;   // exact: |a * w| <= 2^(P_BITS-2)
    wire signed [ACC_BITS-1:0] prod_ext = prod;    // sign-extend (or wrap when ACC_BITS < P_BITS)
    wire signed [ACC_BITS-1:0] base     = clr ? {ACC_BITS{1'b0}} : acc;

    always @(posedge clk) begin
        if (en)
            acc <= base + prod_ext;
        else if (clr)
            acc <= {ACC_BITS{1'b0}};
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
