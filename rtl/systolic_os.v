// systolic_os: an R x C output-stationary array of mac_pe with skewed input feeding and a drain.
//
// Feeding (unskewed at the ports).  Beat k of a fold presents column k of the A tile on a_col
// (A[i][k] at bits i*A_BITS) and row k of the W tile on w_row (W[k][j] at bits j*W_BITS), with
// in_valid; in_last marks k = K-1.  Inside, row i's operands pass through i skew registers and
// column j's through j, then hop one PE per cycle (A to the right, W down), so PE(i,j) multiplies
// A[i][k] * W[k][j] on the edge i + j after the edge that took beat k.  Valid/first/last travel
// with A, so bubbles (in_valid = 0) are allowed anywhere; the first beat of a fold clears each
// PE's accumulator as it arrives (mac_pe clr & en).
//
// Fold timing (the SCALE-Sim output-stationary convention, see sim/systolic.py).  Counting the
// edge that takes beat 0 as edge 0, PE(R-1,C-1) accumulates its last product on edge
// K-1 + (R-1) + (C-1) = K + R + C - 3, and fold_done is high in the cycle after it.  After in_last
// in_ready stays low for R + C - 2 cycles, until that last accumulation, so back-to-back folds
// start every K + R + C - 2 cycles and F folds end on edge F * (K + R + C - 2) - 1: SCALE-Sim's
// "compute cycles" (the index of the last cycle) for an M x N x K GEMM in F = ceil(M/R)*ceil(N/C)
// folds.  (A 1 x 1 array never stalls and ends on edge F*K - 1.)
//
// Drain.  One cycle after PE(R-1,j) has accumulated its last product, column j copies its R
// results into a shift chain, which moves down one row per cycle: out_valid[j] is high for R
// cycles while out_data[j] shows C[R-1][j], C[R-2][j], ..., C[0][j].  Column j drains j cycles
// after column 0 (the wavefront's skew).  The drain overlaps the next fold's compute; the last
// result of the last fold is on out_data R cycles after its last accumulation (outside
// SCALE-Sim's count).
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module systolic_os #(
    parameter R        = 4,
    parameter C        = 4,
    parameter A_BITS   = 8,
    parameter W_BITS   = 8,
    parameter ACC_BITS = 32
) (
    input  wire                  clk,
    input  wire                  rst,        // synchronous; clears control state only
    input  wire                  in_valid,
    input  wire                  in_last,
    input  wire [R*A_BITS-1:0]   a_col,
    input  wire [C*W_BITS-1:0]   w_row,
    output wire                  in_ready,
    output reg                   fold_done,
    output wire [C-1:0]          out_valid,
    output wire [C*ACC_BITS-1:0] out_data
);
    localparam WAIT = R + C - 2;
    localparam CNT_BITS = (WAIT < 2) ? 1 : $clog2(WAIT + 1);
    localparam [31:0] WAIT32 = WAIT;
    localparam [31:0] R32 = R;

    // ---- fold handshake: no new beat while the previous fold's wavefront is in flight -------
    reg [CNT_BITS-1:0] wait_cnt;
    assign in_ready = (wait_cnt == 0);
    wire take = in_valid & in_ready;
    reg  in_first;                                  // the next beat taken opens a fold

    always @(posedge clk) begin
        if (rst) begin
            wait_cnt <= 0;
            in_first <= 1'b1;
        end else begin
            if (take & in_last)
                wait_cnt <= WAIT32[CNT_BITS-1:0];
            else if (wait_cnt != 0)
                wait_cnt <= wait_cnt - 1'b1;
            if (take)
                in_first <= in_last;
        end
    end

    // ---- PE grid: a_h[i][j] / ctl_h[i][j] enter PE(i,j) from the left, w_v[i][j] from the top --
    // Buses are flattened: index (i*(C+1)+j) for horizontal, (i*C+j) for vertical.
    wire [A_BITS-1:0]   a_h   [0:R*(C+1)-1];
    wire [2:0]          ctl_h [0:R*(C+1)-1];     // {last, first, valid}
    wire [W_BITS-1:0]   w_v   [0:(R+1)*C-1];
    wire [ACC_BITS-1:0] acc   [0:R*C-1];

    genvar i, j, d;
    generate
        // left edge: row i delayed by i cycles
        for (i = 0; i < R; i = i + 1) begin : g_row_skew
            reg [A_BITS-1:0] a_sk   [0:i];
            reg [2:0]        ctl_sk [0:i];
            always @(*) begin
                a_sk[0]   = a_col[i*A_BITS +: A_BITS];
                ctl_sk[0] = (rst | ~take) ? 3'b000 : {in_last, in_first, 1'b1};
            end
            for (d = 1; d <= i; d = d + 1) begin : g_d
                always @(posedge clk) begin
                    a_sk[d]   <= a_sk[d-1];
                    ctl_sk[d] <= rst ? 3'b000 : ctl_sk[d-1];
                end
            end
            assign a_h[i*(C+1)]   = a_sk[i];
            assign ctl_h[i*(C+1)] = ctl_sk[i];
        end
        // top edge: column j delayed by j cycles
        for (j = 0; j < C; j = j + 1) begin : g_col_skew
            reg [W_BITS-1:0] w_sk [0:j];
            always @(*) w_sk[0] = w_row[j*W_BITS +: W_BITS];
            for (d = 1; d <= j; d = d + 1) begin : g_d
                always @(posedge clk) w_sk[d] <= w_sk[d-1];
            end
            assign w_v[j] = w_sk[j];
        end
        for (i = 0; i < R; i = i + 1) begin : g_pe_row
            for (j = 0; j < C; j = j + 1) begin : g_pe
                wire [2:0] ctl = ctl_h[i*(C+1)+j];
                reg  [A_BITS-1:0] a_q;
                reg  [W_BITS-1:0] w_q;
                reg  [2:0]        ctl_q;
                mac_pe #(.A_BITS(A_BITS), .W_BITS(W_BITS), .ACC_BITS(ACC_BITS)) u_mac (
                    .clk(clk),
                    .clr(ctl[0] & ctl[1]),
                    .en (ctl[0]),
                    .a  (a_h[i*(C+1)+j]),
                    .w  (w_v[i*C+j]),
                    .acc(acc[i*C+j])
                );
                always @(posedge clk) begin
                    a_q   <= a_h[i*(C+1)+j];
                    w_q   <= w_v[i*C+j];
                    ctl_q <= rst ? 3'b000 : ctl;
                end
                assign a_h[i*(C+1)+j+1] = a_q;
                assign ctl_h[i*(C+1)+j+1] = ctl_q;
                assign w_v[(i+1)*C+j] = w_q;
            end
        end
        // ---- drain: column j captures when PE(R-1,j) has done its last accumulation ----------
        for (j = 0; j < C; j = j + 1) begin : g_drain
            wire bot_valid = ctl_h[(R-1)*(C+1)+j][0];
            wire bot_last  = ctl_h[(R-1)*(C+1)+j][2];
            reg  cap;                                   // PE(R-1,j) accumulated its last product
            reg  [ACC_BITS-1:0] chain [0:R-1];
            reg  [CNT_BITS:0]   left;                   // results still to emit (<= R)
            integer r;
            always @(posedge clk) begin
                cap <= ~rst & bot_valid & bot_last;
                if (rst) begin
                    left <= 0;
                end else if (cap) begin
                    for (r = 0; r < R; r = r + 1) chain[r] <= acc[r*C+j];
                    left <= R32[CNT_BITS:0];
                end else if (left != 0) begin
                    for (r = R - 1; r > 0; r = r - 1) chain[r] <= chain[r-1];
                    left <= left - 1'b1;
                end
            end
            assign out_valid[j] = (left != 0);
            assign out_data[j*ACC_BITS +: ACC_BITS] = chain[R-1];
        end
    endgenerate

    always @(posedge clk)
        fold_done <= ~rst & ctl_h[(R-1)*(C+1)+C-1][0] & ctl_h[(R-1)*(C+1)+C-1][2];
endmodule
/* verilator lint_on WIDTHEXPAND */
