import { IsEmail, IsInt, Min } from 'class-validator';

/** The `invite` task's argument: validated at enqueue (a bad one is refused) and again before it runs. */
export class InviteDto {
  @IsEmail()
  email!: string;

  @IsInt()
  @Min(1)
  userId!: number;
}
